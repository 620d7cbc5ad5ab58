import ArgumentParser
import Foundation
import Gateway
import Storage

/// `aiwriter migrate`: applies the schema's pending steps (or lists them with --status).
struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending database migrations.")

    @OptionGroup var options: ConfigurationOptions
    @Flag(help: "List every migration and whether it is applied; change nothing.") var status = false

    func run() throws {
        let (configuration, _) = try options.load()
        let backend = try openBackend(configuration)
        defer { backend.shutdown() }
        let migrator = Migrator(backend: backend)
        do {
            if status {
                for step in try migrator.status() {
                    print("\(step.version)\t\(step.applied ? "applied" : "pending")\t\(step.name)")
                }
            } else {
                let applied = try migrator.migrate()
                print(applied.isEmpty ? "nothing to migrate" : "applied \(applied.map(String.init).joined(separator: ", "))")
            }
        } catch { throw failure(error) }
    }
}

/// `aiwriter backup --to FILE`.
struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "backup", abstract: "Write a consistent backup of the database to a file.")

    @OptionGroup var options: ConfigurationOptions
    @Option(help: "The backup file (SQLite: a database file; PostgreSQL: pg_dump custom format plus FILE.counts).") var to: String

    func run() throws {
        let (configuration, _) = try options.load()
        let backend = try openBackend(configuration)
        defer { backend.shutdown() }
        do {
            let counts = try Backup.create(backend: backend, configuration: configuration.storage, to: to)
            print("backed up to \(to): " + counts.map { "\($0.table)=\($0.rows)" }.joined(separator: " "))
        } catch { throw failure(error) }
    }
}

/// `aiwriter restore --from FILE`: replaces the database's contents, then checks the counts.
struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "restore",
        abstract: "Replace the database's contents with a backup and check every table's row count. Stop the gateway first.")

    @OptionGroup var options: ConfigurationOptions
    @Option(help: "The backup file written by `aiwriter backup`.") var from: String

    func run() throws {
        let (configuration, _) = try options.load()
        let backend = try openBackend(configuration)
        defer { backend.shutdown() }
        do {
            let counts = try Backup.restore(backend: backend, configuration: configuration.storage, from: from)
            print("restored from \(from), counts match: " + counts.map { "\($0.table)=\($0.rows)" }.joined(separator: " "))
        } catch { throw failure(error) }
    }
}

private func openBackend(_ configuration: GatewayConfiguration) throws -> any SQLBackend {
    do { return try configuration.storage.openBackend() } catch { throw failure(error) }
}

/// Prints a store error and exits non-zero (ArgumentParser would print the type name).
private func failure(_ error: StoreError) -> ExitCode {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    return ExitCode(1)
}
