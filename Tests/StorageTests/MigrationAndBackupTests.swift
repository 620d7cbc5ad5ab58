import Foundation
import Net
import Storage
import Testing
import TestSupport

@Suite("Migrations, backup and restore", .serialized)
struct MigrationAndBackupTests {
    /// A fresh, empty configuration for one test.
    static func configuration(_ kind: BackendKind) throws -> StoreConfiguration {
        switch kind {
        case .sqlite:
            return StoreConfiguration(dataDirectory: NSTemporaryDirectory() + "aiwriter-mig-\(UUID().uuidString)")
        case .postgres:
            return StoreConfiguration(databaseURL: try PostgresServer.freshDatabase(on: try PostgresServer.shared()))
        }
    }

    @Test("migrations apply once, are recorded, and refuse an edited or unknown step", arguments: BackendKind.allCases)
    func migrations(kind: BackendKind) throws {
        let configuration = try Self.configuration(kind)
        let backend = try configuration.openBackend()
        defer { backend.shutdown() }
        let migrator = Migrator(backend: backend)
        #expect(try migrator.status().allSatisfy { !$0.applied })
        #expect(throws: StoreError.self) { try migrator.requireCurrent() }
        #expect(try migrator.migrate() == Schema.migrations.map(\.version))
        #expect(try migrator.migrate().isEmpty)
        try migrator.requireCurrent()

        // A step whose text changed after it was applied is refused, never re-run.
        let edited = Schema.migrations.map { m in
            Migration(version: m.version, name: m.name, postgres: m.postgres + "\n-- edited", sqlite: m.sqlite + "\n-- edited")
        }
        #expect(throws: StoreError.self) { try Migrator(backend: backend, migrations: edited).migrate() }
        // A database migrated by a newer release is refused by an older one.
        let extra = Migration(version: 999, name: "from the future", postgres: "CREATE TABLE future (x INTEGER)", sqlite: "CREATE TABLE future (x INTEGER)")
        #expect(try Migrator(backend: backend, migrations: Schema.migrations + [extra]).migrate() == [999])
        #expect(throws: StoreError.self) { try migrator.migrate() }
        // A step that fails leaves nothing of itself behind.
        let broken = Migration(version: 1000, name: "broken", postgres: "CREATE TABLE half (x INTEGER); SELECT no_such_function()",
                               sqlite: "CREATE TABLE half (x INTEGER); SELECT no_such_function()")
        #expect(throws: StoreError.self) { try Migrator(backend: backend, migrations: Schema.migrations + [extra, broken]).migrate() }
        let tables = try backend.withSession { session throws(StoreError) in
            try session.rows(kind == .postgres ? "SELECT count(*) FROM pg_tables WHERE tablename = 'half'"
                                               : "SELECT count(*) FROM sqlite_master WHERE name = 'half'")
        }
        #expect(tables.first?.first == .integer(0))
    }

    @Test("backup, more writes, restore: the backup's rows and counts come back", arguments: BackendKind.allCases)
    func backupRestore(kind: BackendKind) async throws {
        let configuration = try Self.configuration(kind)
        let backend = try configuration.openBackend()
        defer { backend.shutdown() }
        try Migrator(backend: backend).migrate()
        let store = Store(backend: backend)
        let loop = Fixture.loop
        _ = try await loop.perform { l, d in store.createTenant(id: "acme", name: "Acme", on: l, d) }
        let collection = try await loop.perform { l, d in store.createCollection(tenantID: "acme", name: "c", dimension: 2, metric: .l2, on: l, d) }
        _ = try await loop.perform { l, d in
            store.upsertRecords((0..<50).map { RecordInput(id: "r\($0)", vector: [Float($0), 1]) }, into: collection, on: l, d)
        }
        let doc = try await loop.perform { l, d in store.createDocument(tenantID: "acme", title: "kept", body: "v1", metadata: nil, on: l, d) }

        let file = NSTemporaryDirectory() + "aiwriter-backup-\(UUID().uuidString)"
        let counts = try Backup.create(backend: backend, configuration: configuration, to: file)
        #expect(counts.first { $0.table == "records" }?.rows == 50)
        #expect(counts.first { $0.table == "document_versions" }?.rows == 1)

        // Writes after the backup are gone after the restore.
        _ = try await loop.perform { l, d in store.upsertRecords([RecordInput(id: "late", vector: [9, 9])], into: collection, on: l, d) }
        _ = try await loop.perform { l, d in
            store.updateDocument(tenantID: "acme", id: doc.id, expectedVersion: 1, title: "changed", body: "v2", metadata: nil, on: l, d)
        }
        let restored = try Backup.restore(backend: backend, configuration: configuration, from: file)
        #expect(restored.map(\.rows) == counts.map(\.rows))
        let fresh = try configuration.openBackend()
        defer { fresh.shutdown() }
        let reopened = Store(backend: fresh)
        let again = try await loop.perform { l, d in reopened.document(tenantID: "acme", id: doc.id, on: l, d) }
        #expect(again.title == "kept" && again.version == 1)
        let late = try await loop.perform { l, d in reopened.records(ids: ["late", "r7"], in: collection, on: l, d) }
        #expect(late.map(\.id) == ["r7"])

        #expect(throws: StoreError.self) { try Backup.restore(backend: backend, configuration: configuration, from: file + ".missing") }
    }
}
