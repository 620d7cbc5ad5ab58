import Foundation
import Net
import Storage
import TestSupport

/// The two backends every conformance test runs on.
enum BackendKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite, postgres
    var description: String { rawValue }
}

/// One started loop and one migrated store per backend, shared by the suite; each test works
/// in tenants of its own, so tests do not see each other's rows.
enum Fixture {
    static let group: EventLoopGroup = {
        let group = try! EventLoopGroup(loopCount: 1)
        group.start()
        return group
    }()
    static var loop: EventLoop { group.loops[0] }

    nonisolated(unsafe) static let sqlite: Result<Store, Error> = Result {
        let directory = NSTemporaryDirectory() + "aiwriter-store-\(UUID().uuidString)"
        return try open(StoreConfiguration(dataDirectory: directory))
    }

    nonisolated(unsafe) static let postgres: Result<Store, Error> = Result {
        let url = try PostgresServer.freshDatabase(on: try PostgresServer.shared())
        return try open(StoreConfiguration(databaseURL: url, maximumConnections: 4))
    }

    static func open(_ configuration: StoreConfiguration) throws -> Store {
        let backend = try configuration.openBackend()
        try Migrator(backend: backend).migrate()
        return Store(backend: backend)
    }

    static func store(_ kind: BackendKind) throws -> Store {
        switch kind {
        case .sqlite: return try sqlite.get()
        case .postgres: return try postgres.get()
        }
    }

    /// A new tenant for one test.
    static func tenant(_ store: Store) async throws -> String {
        let id = "t" + UUID().uuidString.prefix(12).lowercased()
        _ = try await loop.perform { loop, done in store.createTenant(id: id, name: "test \(id)", on: loop, done) }
        return id
    }
}

extension Store {
    /// Runs an operation on the fixture's loop and waits for it.
    func call<T: Sendable>(_ operation: @escaping @Sendable (Store, EventLoop, @escaping (Result<T, StoreError>) -> Void) -> Void) async throws(StoreError) -> T {
        try await Fixture.loop.perform { [self] loop, done in operation(self, loop, done) }
    }

    /// The error an operation fails with, or nil if it succeeded.
    func failure<T: Sendable>(_ operation: @escaping @Sendable (Store, EventLoop, @escaping (Result<T, StoreError>) -> Void) -> Void) async -> StoreError? {
        do throws(StoreError) {
            _ = try await call(operation)
            return nil
        } catch { return error }
    }
}

/// Parses a JSON object for comparisons that ignore formatting (jsonb normalises spacing).
func jsonObject(_ text: String) -> NSDictionary? {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? NSDictionary
}
