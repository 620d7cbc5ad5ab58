import CPostgres
import Net
import Synchronization

/// The production backend: PostgreSQL through libpq's asynchronous API, one pool per loop
/// (so a unit never leaves the loop that asked for it), reads routed to a replica when one is
/// configured.
public final class PostgresBackend: SQLBackend, @unchecked Sendable {
    // @unchecked: immutable after init but for `poolLoops` (a Mutex); the pools it creates live
    // in each loop's own storage and are touched only on that loop.

    public let dialect = SQLDialect.postgres
    public let primary: PostgresConnectionSettings
    public let replica: PostgresConnectionSettings?
    /// Connections per loop.
    public let minimumConnections: Int
    public let maximumConnections: Int
    private let primaryKey = LoopLocalKey()
    private let replicaKey = LoopLocalKey()
    private let replayKey = LoopLocalKey()
    /// Reads after a position the standby had not replayed, answered by the primary instead.
    private let readsOnPrimary = Atomic<Int>(0)
    /// Loops holding a pool of this backend, for `shutdown()`.
    private let poolLoops = Mutex<[EventLoop]>([])
    private let pools = Mutex<[PoolStatistics]>([])
    private let isShutDown = Atomic<Bool>(false)

    public init(primary: PostgresConnectionSettings, replica: PostgresConnectionSettings? = nil,
                minimumConnections: Int = 1, maximumConnections: Int = 8) {
        self.primary = primary
        self.replica = replica
        self.minimumConnections = minimumConnections
        self.maximumConnections = maximumConnections
    }

    public func run(_ statements: [Statement], readOnly: Bool, on loop: EventLoop,
                    _ completion: @escaping (Result<[SQLResult], StoreError>) -> Void) {
        guard !isShutDown.load(ordering: .relaxed) else {
            return completion(.failure(.unavailable("the store is shut down")))
        }
        if readOnly, replica != nil {
            return replicaPool(on: loop).run(PostgresOperation(statements: statements, readOnly: true, enqueuedAt: loop.nowMilliseconds,
                                                               completion: completion))
        }
        primaryPool(on: loop).run(PostgresOperation(statements: statements, readOnly: readOnly,
                                                    commitTracker: replica == nil || readOnly ? nil : replay(on: loop),
                                                    enqueuedAt: loop.nowMilliseconds, completion: completion))
    }

    public func run(_ statements: [Statement], readAfter position: WALPosition, on loop: EventLoop,
                    _ completion: @escaping (Result<[SQLResult], StoreError>) -> Void) {
        guard replica != nil, !isShutDown.load(ordering: .relaxed) else { return run(statements, readOnly: true, on: loop, completion) }
        let replicaPool = replicaPool(on: loop)
        let onStandby = replay(on: loop).standbyHasReplayed(position.value, replica: replicaPool, loop: loop)
        if !onStandby { readsOnPrimary.add(1, ordering: .relaxed) }
        (onStandby ? replicaPool : primaryPool(on: loop))
            .run(PostgresOperation(statements: statements, readOnly: true, enqueuedAt: loop.nowMilliseconds, completion: completion))
    }

    public var servesReadsFromStandby: Bool { replica != nil }

    public func commitPosition(on loop: EventLoop) -> WALPosition? {
        guard replica != nil else { return nil }
        let last = replay(on: loop).lastCommit
        return last == 0 ? nil : WALPosition(last)
    }

    /// Reads after a position the standby had not replayed yet, sent to the primary, for `/metrics`.
    public var readsRoutedToPrimary: Int { readsOnPrimary.load(ordering: .relaxed) }

    private func primaryPool(on loop: EventLoop) -> PostgresPool {
        loop.local(for: primaryKey) {
            remember(loop)
            return registered(PostgresPool(loop: loop, settings: primary, minimum: minimumConnections, maximum: maximumConnections))
        }
    }

    private func replicaPool(on loop: EventLoop) -> PostgresPool {
        loop.local(for: replicaKey) {
            remember(loop)
            return registered(PostgresPool(loop: loop, settings: replica!, minimum: minimumConnections, maximum: maximumConnections,
                                           role: "replica"))
        }
    }

    private func replay(on loop: EventLoop) -> ReplicaReplay {
        loop.local(for: replayKey) { ReplicaReplay() }
    }

    public func withSession<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws(StoreError) -> T) throws(StoreError) -> T {
        let session = try PostgresBlockingSession(primary)
        return try body(session)
    }

    private func registered(_ pool: PostgresPool) -> PostgresPool {
        pools.withLock { $0.append(pool.statistics) }
        return pool
    }

    /// Every pool this backend opened (one per loop and role), for `/metrics`.
    public var poolStatistics: [PoolStatistics] { pools.withLock { $0 } }

    private func remember(_ loop: EventLoop) {
        poolLoops.withLock { loops in if !loops.contains(where: { $0 === loop }) { loops.append(loop) } }
    }

    /// Closes this backend's pools on every loop (queued units fail with `unavailable`). Pools
    /// also close when their loops stop.
    public func shutdown() {
        isShutDown.store(true, ordering: .relaxed)
        let loops = poolLoops.withLock { loops in
            defer { loops.removeAll() }
            return loops
        }
        for loop in loops {
            loop.execute { [primaryKey, replicaKey] in
                for key in [primaryKey, replicaKey] { (loop.removeLocal(for: key) as? PostgresPool)?.shutdown() }
            }
        }
    }
}

/// A blocking libpq connection for administrative work (migrations, backups, counts).
public final class PostgresBlockingSession: SQLSession {
    let pg: OpaquePointer
    public var dialect: SQLDialect { .postgres }

    public init(_ settings: PostgresConnectionSettings) throws(StoreError) {
        let keywords = ["connect_timeout", "application_name", "dbname"]
        let seconds = String(max(1, (settings.connectTimeoutMilliseconds + 999) / 1000))
        let values = [seconds, "aiwriter-admin", settings.url]
        let connection = withCStrings(keywords) { k in withCStrings(values) { v in PQconnectdbParams(k, v, 1) } }
        guard let connection else { throw .unavailable("out of memory") }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(connection))
            PQfinish(connection)
            throw .unavailable(message.trimmingTrailingWhitespace)
        }
        pg = connection
        // Keep scripts quiet: NOTICEs about IF NOT EXISTS are not news.
        PQclear(PQexec(pg, "SET client_min_messages = warning"))
    }

    deinit { PQfinish(pg) }

    public func execute(_ sql: String) throws(StoreError) {
        _ = try rows(sql)
    }

    public func rows(_ sql: String) throws(StoreError) -> [[SQLValue]] {
        guard let result = PQexec(pg, sql) else { throw .unavailable(String(cString: PQerrorMessage(pg))) }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else {
            if PQstatus(pg) != CONNECTION_OK { throw .unavailable(String(cString: PQerrorMessage(pg)).trimmingTrailingWhitespace) }
            throw StoreError.postgres(result)
        }
        var rows: [[SQLValue]] = []
        for r in 0..<PQntuples(result) {
            var row: [SQLValue] = []
            for c in 0..<PQnfields(result) {
                if PQgetisnull(result, r, c) == 1 { row.append(.null); continue }
                let text = String(cString: PQgetvalue(result, r, c))
                switch PQftype(result, c) {
                case PostgresBinary.int8, PostgresBinary.int4, PostgresBinary.int2:
                    row.append(Int64(text).map { .integer($0) } ?? .text(text))
                default: row.append(.text(text))
                }
            }
            rows.append(row)
        }
        return rows
    }
}

extension String {
    var trimmingTrailingWhitespace: String {
        var s = Substring(self)
        while s.last?.isWhitespace == true { s = s.dropLast() }
        return String(s)
    }
}
