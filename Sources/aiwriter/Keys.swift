import ArgumentParser
import Foundation
import Gateway
import Net
import Storage

/// `aiwriter keys create|list|revoke`: API keys, managed straight in the database.
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create, list and revoke API keys.",
                                                    subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key; its secret is printed once, alone on the last line.")
        @OptionGroup var options: ConfigurationOptions
        @Option(help: "The tenant (created if new).") var tenant: String
        @Option(help: "admin, writer or reader.") var role: String
        @Option(help: "A name to tell keys apart.") var name = "unnamed"
        @Option(help: "Requests allowed, e.g. 100/s or 6000/m (default: the server's default-rate).") var rate: String?
        @Option(help: "Burst size (default: the server's default-burst).") var burst: Int64?
        @Option(name: .customLong("tokens-per-minute"), help: "AI tokens per minute.") var tokensPerMinute: Int64?

        func run() async throws {
            guard let role = Role(rawValue: role) else { throw ValidationError("--role must be admin, writer or reader") }
            // The same bounds as the admin API: beyond them the limiter's arithmetic means nothing.
            for (flag, value) in [("--burst", burst), ("--tokens-per-minute", tokensPerMinute)] {
                if let value, !(1...1_000_000_000_000).contains(value) { throw ValidationError("\(flag) must be a whole number from 1 to 10^12") }
            }
            var ratePerSecond: Double?
            if let rate {
                guard let parsed = RateLimitPolicy.parseRate(rate) else { throw ValidationError("--rate must look like 100/s, 6000/m or 10/h (from one a million seconds to 10^12 a second)") }
                ratePerSecond = parsed
            }
            let secret = APIKeySecret.generate()
            let key = APIKeyRecord(id: APIKeySecret.generateID(), tenantID: tenant, name: name, hash: APIKeySecret.sha256(secret),
                                   role: role, ratePerSecond: ratePerSecond, burst: burst, tokensPerMinute: tokensPerMinute)
            let tenant = self.tenant
            let stored = try await withStore(options) { (store, loop) async throws(StoreError) -> APIKeyRecord in
                do throws(StoreError) {
                    _ = try await store.tenant(id: tenant, on: loop)
                } catch .notFound {
                    // Created if new; a concurrent creator winning the race is fine.
                    do throws(StoreError) { _ = try await store.createTenant(id: tenant, name: tenant, on: loop) } catch .conflict {}
                }
                return try await store.createKey(key, on: loop)
            }
            print("created key \(stored.id) for tenant \(stored.tenantID) with role \(stored.role.rawValue); the secret is shown only now:")
            print(secret)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never their secrets).")
        @OptionGroup var options: ConfigurationOptions
        @Option(help: "Only this tenant's keys.") var tenant: String?

        func run() async throws {
            let tenant = self.tenant
            let keys = try await withStore(options) { (store, loop) async throws(StoreError) in try await store.keys(tenantID: tenant, on: loop) }
            print("id\ttenant\trole\tname\trate/s\tburst\ttokens/min\tstatus")
            for key in keys {
                let rate = key.ratePerSecond.map { String($0) } ?? "default"
                let burst = key.burst.map { String($0) } ?? "default"
                let tokens = key.tokensPerMinute.map { String($0) } ?? "-"
                print("\(key.id)\t\(key.tenantID)\t\(key.role.rawValue)\t\(key.name)\t\(rate)\t\(burst)\t\(tokens)\t\(key.revokedAt == nil ? "active" : "revoked")")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key; every replica stops accepting it within about 2 s.")
        // The key's id comes first: the configuration flags take every word after it.
        @Argument(help: "The key's id (key_…).") var id: String
        @OptionGroup var options: ConfigurationOptions

        func run() async throws {
            let id = self.id
            let revoked = try await withStore(options) { (store, loop) async throws(StoreError) -> APIKeyRecord? in
                guard let key = try await store.keys(tenantID: nil, on: loop).first(where: { $0.id == id }) else { return nil }
                return try await store.revokeKey(tenantID: key.tenantID, id: id, on: loop)
            }
            guard let revoked else { throw ValidationError("no key \(id)") }
            print("revoked \(revoked.id)")
        }
    }
}

/// Opens the configured store (migrating the embedded one), runs `body` as straight-line
/// async code on a loop of its own, and returns its result.
func withStore<T: Sendable>(_ options: ConfigurationOptions,
                            _ body: @escaping @Sendable (Store, EventLoop) async throws(StoreError) -> T) async throws -> T {
    let (configuration, _) = try options.load()
    let backend: any SQLBackend
    do {
        backend = try configuration.storage.openBackend()
        let migrator = Migrator(backend: backend)
        if configuration.shouldMigrateOnStart { try migrator.migrate() } else { try migrator.requireCurrent() }
    } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(1)
    }
    let store = Store(backend: backend)
    let group = try EventLoopGroup(loopCount: 1, threadName: "aiw-cli")
    group.start()
    defer {
        group.stop()
        group.join()
        backend.shutdown()
    }
    let loop = group.loops[0]
    do throws(StoreError) {
        return try await withTaskExecutorPreference(loop) { () async throws(StoreError) -> T in try await body(store, loop) }
    } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(1)
    }
}
