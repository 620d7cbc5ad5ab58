/// Applies the schema's pending steps, each in its own transaction, and records them in
/// `schema_migrations`. On PostgreSQL an advisory lock makes replicas that start together
/// migrate one at a time (the others then find nothing to do).
public struct Migrator: Sendable {
    public let backend: any SQLBackend
    public let migrations: [Migration]

    public init(backend: any SQLBackend, migrations: [Migration] = Schema.migrations) {
        self.backend = backend
        self.migrations = migrations
    }

    /// One applied or pending step.
    public struct Step: Sendable, Equatable {
        public let version: Int
        public let name: String
        public let applied: Bool
    }

    static let lockKey = 7_243_119_001

    /// Applies what is pending; returns the versions applied now.
    @discardableResult
    public func migrate() throws(StoreError) -> [Int] {
        let migrations = self.migrations
        return try backend.withSession { session throws(StoreError) in
            try Migrator.prepare(session)
            if session.dialect == .postgres { try session.execute("SELECT pg_advisory_lock(\(Migrator.lockKey))") }
            defer { if session.dialect == .postgres { try? session.execute("SELECT pg_advisory_unlock(\(Migrator.lockKey))") } }
            // Pending steps are read and applied in one transaction that holds the write lock
            // (SQLite: BEGIN IMMEDIATE; PostgreSQL: the advisory lock above), so two processes
            // starting on one database never both apply a step.
            try session.execute(session.dialect == .postgres ? "BEGIN" : "BEGIN IMMEDIATE")
            var done: [Int] = []
            do throws(StoreError) {
                let applied = try Migrator.applied(session)
                try Migrator.check(applied, against: migrations, dialect: session.dialect)
                for migration in migrations where applied[migration.version] == nil {
                    do throws(StoreError) {
                        try session.execute(migration.sql(for: session.dialect))
                    } catch {
                        throw .internalError("migration \(migration.version) (\(migration.name)) failed: \(error.message)")
                    }
                    try session.execute("""
                        INSERT INTO schema_migrations (version, name, checksum, applied_at)
                        VALUES (\(migration.version), '\(String(migration.name.flatMap { $0 == "'" ? ["'", "'"] : [$0] }))', \
                        '\(migration.checksum(for: session.dialect))', \(Store.now))
                        """)
                    done.append(migration.version)
                }
                try session.execute("COMMIT")
            } catch {
                try? session.execute("ROLLBACK")
                throw error
            }
            return done
        }
    }

    /// Every known step and whether the database has it.
    public func status() throws(StoreError) -> [Step] {
        let migrations = self.migrations
        return try backend.withSession { session throws(StoreError) in
            try Migrator.prepare(session)
            let applied = try Migrator.applied(session)
            try Migrator.check(applied, against: migrations, dialect: session.dialect)
            return migrations.map { Step(version: $0.version, name: $0.name, applied: applied[$0.version] != nil) }
        }
    }

    /// Fails unless every step is applied: a server does not start on an old schema.
    public func requireCurrent() throws(StoreError) {
        let pending = try status().filter { !$0.applied }
        guard pending.isEmpty else {
            throw .unavailable("the database needs \(pending.count) migration(s) (\(pending.map { String($0.version) }.joined(separator: ", "))); run `aiwriter migrate` or start with --migrate")
        }
    }

    static func prepare(_ session: any SQLSession) throws(StoreError) {
        try session.execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)
            """)
    }

    static func applied(_ session: any SQLSession) throws(StoreError) -> [Int: String] {
        var applied: [Int: String] = [:]
        for row in try session.rows("SELECT version, checksum FROM schema_migrations") {
            applied[Int(try row.integer(0))] = try row.text(1)
        }
        return applied
    }

    static func check(_ applied: [Int: String], against migrations: [Migration], dialect: SQLDialect) throws(StoreError) {
        let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        for (version, checksum) in applied.sorted(by: { $0.key < $1.key }) {
            guard let migration = known[version] else {
                throw .conflict("the database has migration \(version), which this aiwriter does not know (a newer version migrated it)")
            }
            guard migration.checksum(for: dialect) == checksum else {
                throw .conflict("migration \(version) (\(migration.name)) changed since it was applied")
            }
        }
    }
}
