import CSQLite
import Foundation

/// Whole-store backup and restore, with a row count per table checked after a restore.
///
/// SQLite: the online backup API, run on the writer thread so no write lands halfway; the
/// backup is itself a database, so its counts are read from it at restore time.
/// PostgreSQL: `pg_dump`'s custom format taken inside an exported REPEATABLE READ snapshot,
/// with the counts of that same snapshot written beside it (`FILE.counts`).
public enum Backup {
    public typealias Counts = [(table: String, rows: Int64)]

    /// Writes a backup of the store to `path` and returns the counts it holds.
    public static func create(backend: any SQLBackend, configuration: StoreConfiguration, to path: String) throws(StoreError) -> Counts {
        switch backend {
        case let sqlite as SQLiteBackend:
            return try sqlite.withWriter { connection throws(StoreError) in
                let temporary = path + ".partial"
                unlink(temporary)
                try copy(from: connection.raw, toFile: temporary)
                guard rename(temporary, path) == 0 else {
                    throw .unavailable("cannot move the backup into place: \(String(cString: strerror(errno)))")
                }
                return try counts(connection)
            }
        default:
            guard let url = configuration.databaseURL else { throw .invalid("no database URL") }
            let session = try PostgresBlockingSession(PostgresConnectionSettings(url: url))
            try session.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            defer { try? session.execute("COMMIT") }
            let snapshot = try session.rows("SELECT pg_export_snapshot()")[0].text(0)
            let counts = try counts(session)
            // Written aside and moved into place, counts first: a file at `path` is always whole.
            let temporary = path + ".partial"
            unlink(temporary)
            try runTool("pg_dump", ["--format=custom", "--no-owner", "--snapshot=\(snapshot)", "--file=\(temporary)", "--dbname=\(url)"])
            let manifest = counts.map { "\($0.table) \($0.rows)\n" }.joined()
            guard FileManager.default.createFile(atPath: path + ".counts", contents: Data(manifest.utf8)) else {
                throw .unavailable("cannot write \(path).counts")
            }
            guard rename(temporary, path) == 0 else {
                throw .unavailable("cannot move the backup into place: \(String(cString: strerror(errno)))")
            }
            return counts
        }
    }

    /// Replaces the store's contents with the backup at `path`, then checks that every table
    /// has the backup's row count. Run with the gateway stopped.
    public static func restore(backend: any SQLBackend, configuration: StoreConfiguration, from path: String) throws(StoreError) -> Counts {
        guard FileManager.default.fileExists(atPath: path) else { throw .notFound("no backup at \(path)") }
        let expected: Counts
        let restored: Counts
        switch backend {
        case let sqlite as SQLiteBackend:
            (expected, restored) = try sqlite.withWriter { connection throws(StoreError) in
                var source: OpaquePointer?
                guard sqlite3_open_v2(path, &source, SQLITE_OPEN_READONLY, nil) == SQLITE_OK, let source else {
                    sqlite3_close(source)
                    throw .invalid("\(path) is not a SQLite backup")
                }
                defer { sqlite3_close(source) }
                let sourceConnection = SQLiteConnectionHandle(try SQLiteConnection(wrapping: source))
                let expected = try counts(sourceConnection)
                try copy(from: source, to: connection.raw)
                return (expected, try counts(connection))
            }
        default:
            guard let url = configuration.databaseURL else { throw .invalid("no database URL") }
            guard let manifest = try? String(contentsOfFile: path + ".counts", encoding: .utf8) else {
                throw .invalid("\(path).counts is missing: it holds the counts the restore is checked against")
            }
            expected = manifest.split(separator: "\n").compactMap { line in
                let parts = line.split(separator: " ")
                guard parts.count == 2, let rows = Int64(parts[1]) else { return nil }
                return (String(parts[0]), rows)
            }
            try runTool("pg_restore", ["--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error",
                                       "--dbname=\(url)", path])
            restored = try counts(PostgresBlockingSession(PostgresConnectionSettings(url: url)))
        }
        let got = Dictionary(restored.map { ($0.table, $0.rows) }, uniquingKeysWith: { a, _ in a })
        for (table, rows) in expected where got[table] != rows {
            throw .internalError("restore check failed: \(table) has \(got[table].map(String.init) ?? "no") rows, the backup \(rows)")
        }
        return restored
    }

    static func counts(_ session: any SQLSession) throws(StoreError) -> Counts {
        var out: Counts = []
        for table in Schema.tables {
            let rows = try session.rows("SELECT count(*) FROM \(table)")
            out.append((table, try rows.first?.integer(0) ?? 0))
        }
        return out
    }

    private static func copy(from source: OpaquePointer, toFile path: String) throws(StoreError) {
        var target: OpaquePointer?
        guard sqlite3_open_v2(path, &target, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nil) == SQLITE_OK, let target else {
            sqlite3_close(target)
            throw .unavailable("cannot create \(path)")
        }
        defer { sqlite3_close(target) }
        try copy(from: source, to: target)
        // The backup is a self-contained file, not a WAL database with a sidecar.
        sqlite3_exec(target, "PRAGMA journal_mode=DELETE", nil, nil, nil)
    }

    private static func copy(from source: OpaquePointer, to target: OpaquePointer) throws(StoreError) {
        guard let backup = sqlite3_backup_init(target, "main", source, "main") else {
            throw .unavailable("backup failed: \(String(cString: sqlite3_errmsg(target)))")
        }
        let rc = sqlite3_backup_step(backup, -1)
        sqlite3_backup_finish(backup)
        guard rc == SQLITE_DONE else { throw .unavailable("backup failed: \(String(cString: sqlite3_errstr(rc)))") }
    }

    private static func runTool(_ name: String, _ arguments: [String]) throws(StoreError) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [name] + arguments
        let errors = Pipe()
        process.standardError = errors
        do { try process.run() } catch { throw .unavailable("cannot run \(name): \(error)") }
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw .unavailable("\(name) failed (\(process.terminationStatus)): \(String(decoding: message, as: UTF8.self).trimmingTrailingWhitespace)")
        }
    }
}
