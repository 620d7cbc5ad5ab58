import CPostgres
import DequeModule
import CUV
import Net
#if canImport(Glibc)
import Glibc
#endif

/// How every connection of a pool is opened.
public struct PostgresConnectionSettings: Sendable {
    /// A `postgres://` URL or a libpq keyword string.
    public var url: String
    /// Server-side limit for each statement (sent as `-c statement_timeout`); the client gives
    /// up on a silent server 2 s after it.
    public var statementTimeoutMilliseconds: Int
    public var connectTimeoutMilliseconds: Int

    public init(url: String, statementTimeoutMilliseconds: Int = 5000, connectTimeoutMilliseconds: Int = 5000) {
        self.url = url
        self.statementTimeoutMilliseconds = statementTimeoutMilliseconds
        self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
    }
}

/// A unit of statements waiting for, or running on, a connection.
final class PostgresOperation {
    let statements: [Statement]
    let readOnly: Bool
    /// Told where the WAL ended after this write committed, when a standby serves reads (a
    /// client's reads must not go back before its own writes: `ReplicaReplay`). The loop's own.
    let commitTracker: ReplicaReplay?
    let completion: (Result<[SQLResult], StoreError>) -> Void
    let enqueuedAt: UInt64
    var attempts = 0
    private(set) var finished = false
    /// Set by the connection when the write committed and its position was asked for.
    var commitPosition: UInt64 = 0

    init(statements: [Statement], readOnly: Bool, commitTracker: ReplicaReplay? = nil, enqueuedAt: UInt64,
         completion: @escaping (Result<[SQLResult], StoreError>) -> Void) {
        self.statements = statements
        self.readOnly = readOnly
        self.commitTracker = readOnly ? nil : commitTracker
        self.enqueuedAt = enqueuedAt
        self.completion = completion
    }

    func finish(_ result: Result<[SQLResult], StoreError>) {
        guard !finished else { return }
        finished = true
        completion(result)
    }
}

/// One asynchronous libpq connection driven by an `FDWatcher` on its loop.
///
/// A unit runs as one pipeline: Parse for statements this connection has not prepared yet,
/// Bind/Execute for each statement, one Sync — one round trip, and the statements between
/// two Syncs form an implicit transaction, so a unit is all-or-nothing without BEGIN/COMMIT.
/// A write that reports its commit position adds `SELECT pg_current_wal_lsn()` after that Sync
/// (and a Sync of its own): still one round trip, and it runs after the commit, so the position
/// it returns covers the commit record.
/// Lifecycle as libuv's handles: init (connect), start (run a unit), close.
final class PostgresConnection {
    enum State { case connecting, idle, busy, closed }
    private enum Expected { case prepare(Int), query(Int), commitPosition, sync }

    unowned let pool: PostgresPool
    let loop: EventLoop
    private(set) var state = State.connecting
    private var pg: OpaquePointer?
    private var watcher: FDWatcher?
    /// Prepared on this connection, by `Query.id`.
    private var prepared: [Bool] = []
    private var operation: PostgresOperation?
    /// What the server still owes for the running unit, in pipeline order.
    private var expected = Deque<Expected>()
    private var results: [SQLResult] = []
    private var failure: StoreError?
    private var preparedInFlight: [Int] = []
    private var deadline: ScheduledTask?
    private var sentAnything = false
    // Scratch space for encoding parameters, kept across units so sending allocates nothing.
    private var buffer: [UInt8] = []
    private var offsets: [Int] = []
    private var lengths: [Int32] = []
    private var formats: [Int32] = []
    private var types: [Oid] = []
    private var pointers: [UnsafePointer<CChar>?] = []
    /// When a running unit is given up on (the server went silent); 0 when idle.
    private(set) var busyDeadline: UInt64 = 0
    let openedAt: UInt64
    var lastUsed: UInt64

    init(pool: PostgresPool, loop: EventLoop) {
        self.pool = pool
        self.loop = loop
        openedAt = loop.nowMilliseconds
        lastUsed = openedAt
    }

    // MARK: Connect

    func connect(_ settings: PostgresConnectionSettings) {
        let options = "-c statement_timeout=\(settings.statementTimeoutMilliseconds)"
        let seconds = String(max(1, (settings.connectTimeoutMilliseconds + 999) / 1000))
        let keywords = ["options", "connect_timeout", "application_name", "dbname"]
        let values = [options, seconds, "aiwriter", settings.url]
        pg = withCStrings(keywords) { k in withCStrings(values) { v in PQconnectStartParams(k, v, 1) } }
        guard let pg, PQstatus(pg) != CONNECTION_BAD else {
            let message = pg.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            fail(.unavailable(trimmed(message)))
            return
        }
        deadline = loop.schedule(afterMilliseconds: UInt64(settings.connectTimeoutMilliseconds)) { [weak self] in
            self?.fail(.unavailable("connecting to PostgreSQL timed out"))
        }
        watch(UV_WRITABLE.rawValue)
    }

    private func continueConnecting() {
        guard let pg else { return }
        switch PQconnectPoll(pg) {
        case PGRES_POLLING_READING: watch(UV_READABLE.rawValue)
        case PGRES_POLLING_WRITING: watch(UV_WRITABLE.rawValue)
        case PGRES_POLLING_OK:
            deadline?.cancel()
            deadline = nil
            guard PQsetnonblocking(pg, 1) == 0, PQenterPipelineMode(pg) == 1 else {
                fail(.unavailable("cannot enter pipeline mode: \(trimmed(String(cString: PQerrorMessage(pg))))"))
                return
            }
            state = .idle
            watch(UV_READABLE.rawValue)
            pool.connectionReady(self)
        default:
            fail(.unavailable(trimmed(String(cString: PQerrorMessage(pg)))))
        }
    }

    // MARK: Run a unit

    /// Sends `operation`'s pipeline. The connection must be idle.
    func start(_ operation: PostgresOperation) {
        precondition(state == .idle)
        guard let pg else { return }
        state = .busy
        self.operation = operation
        operation.attempts += 1
        expected.removeAll(keepingCapacity: true)
        // The array from the last unit is unique again once its consumer is done: reuse it
        // (a fresh one cost an allocation and a generic-metadata lookup per unit).
        results.removeAll(keepingCapacity: true)
        for _ in 0..<operation.statements.count { results.append(SQLResult()) }
        failure = nil
        preparedInFlight.removeAll(keepingCapacity: true)
        sentAnything = false
        for (index, statement) in operation.statements.enumerated() {
            let query = statement.query
            if !(query.id < prepared.count && prepared[query.id]) && !preparedInFlight.contains(query.id) {
                types.removeAll(keepingCapacity: true)
                for value in statement.values { types.append(PostgresBinary.oid(of: value)) }
                guard PQsendPrepare(pg, query.cName, query.postgres, Int32(types.count), types) == 1 else {
                    return brokenWhileSending()
                }
                expected.append(.prepare(query.id))
                preparedInFlight.append(query.id)
            }
            buffer.removeAll(keepingCapacity: true)
            offsets.removeAll(keepingCapacity: true)
            lengths.removeAll(keepingCapacity: true)
            formats.removeAll(keepingCapacity: true)
            for value in statement.values {
                let start = buffer.count
                let present = PostgresBinary.encode(value, into: &buffer)
                offsets.append(present ? start : -1)
                lengths.append(Int32(buffer.count - start))
                formats.append(1)
            }
            let sent: Int32 = buffer.withUnsafeBufferPointer { bytes in
                pointers.removeAll(keepingCapacity: true)
                // A present zero-length value still needs a non-NULL pointer.
                let base = bytes.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }
                    ?? UnsafePointer<CChar>(bitPattern: 1)!
                for offset in offsets { pointers.append(offset < 0 ? nil : base + offset) }
                return PQsendQueryPrepared(pg, query.cName, Int32(offsets.count), pointers, lengths, formats, 1)
            }
            guard sent == 1 else { return brokenWhileSending() }
            expected.append(.query(index))
        }
        guard PQpipelineSync(pg) == 1 else { return brokenWhileSending() }
        expected.append(.sync)
        if operation.commitTracker != nil {
            guard PQsendQueryParams(pg, "SELECT pg_current_wal_lsn()::text", 0, nil, nil, nil, nil, 1) == 1,
                  PQpipelineSync(pg) == 1 else { return brokenWhileSending() }
            expected.append(.commitPosition)
            expected.append(.sync)
        }
        sentAnything = true
        // The pool's once-a-second sweep enforces this; a timer per unit would cost more
        // than the query on the fast path.
        busyDeadline = loop.nowMilliseconds + UInt64(pool.settings.statementTimeoutMilliseconds) * UInt64(max(1, operation.statements.count)) + 2000
        flush()
    }

    private func brokenWhileSending() {
        fail(.unavailable(trimmed(String(cString: PQerrorMessage(pg)))))
    }

    private func flush() {
        guard let pg else { return }
        switch PQflush(pg) {
        case 0: watch(UV_READABLE.rawValue)
        case 1: watch(UV_READABLE.rawValue | UV_WRITABLE.rawValue)
        default: fail(.unavailable(trimmed(String(cString: PQerrorMessage(pg)))))
        }
    }

    fileprivate func onPoll(_ readiness: FDWatcher.Readiness) {
        guard case .ready(let ready) = readiness else {
            if case .failed(let status) = readiness { fail(.unavailable("PostgreSQL socket error: \(FDWatcher.describe(status))")) }
            return
        }
        let events = ready.rawValue
        switch state {
        case .connecting: continueConnecting()
        case .closed: return
        case .idle:
            // Nothing was asked: the server is closing the connection (shutdown, idle kill).
            guard let pg, PQconsumeInput(pg) == 1, PQstatus(pg) == CONNECTION_OK else {
                fail(.unavailable("PostgreSQL closed the connection"))
                return
            }
            while PQisBusy(pg) == 0, let result = PQgetResult(pg) { PQclear(result) }
        case .busy:
            guard let pg else { return }
            if events & Int32(UV_WRITABLE.rawValue) != 0 {
                flush()
                if state != .busy { return }
            }
            if events & Int32(UV_READABLE.rawValue) != 0 {
                guard PQconsumeInput(pg) == 1 else {
                    fail(.unavailable(trimmed(String(cString: PQerrorMessage(pg)))))
                    return
                }
                readResults(pg)
            }
        }
    }

    private func readResults(_ pg: OpaquePointer) {
        while let head = expected.first, PQisBusy(pg) == 0 {
            guard let result = PQgetResult(pg) else {
                // NULL ends one command's results.
                if case .sync = head { break }
                expected.removeFirst()
                continue
            }
            let status = PQresultStatus(result)
            switch head {
            case .prepare(let id):
                if status == PGRES_COMMAND_OK {
                    if id >= prepared.count { prepared += repeatElement(false, count: id + 1 - prepared.count) }
                    prepared[id] = true
                }
                else if status == PGRES_FATAL_ERROR, failure == nil { failure = .postgres(result) }
            case .query(let index):
                if status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK {
                    results[index] = PostgresConnection.decode(result)
                } else if status == PGRES_FATAL_ERROR, failure == nil {
                    failure = .postgres(result)
                }
            case .commitPosition:
                // A failure here (a standby promoted mid-query cannot answer) only costs the
                // token: the unit's own result came before the first Sync.
                if status == PGRES_TUPLES_OK, PQntuples(result) == 1, PQgetisnull(result, 0, 0) == 0 {
                    let bytes = UnsafeRawBufferPointer(start: PQgetvalue(result, 0, 0), count: Int(PQgetlength(result, 0, 0)))
                    if let position = WALPosition(String(decoding: bytes, as: UTF8.self)) { operation?.commitPosition = position.value }
                }
            case .sync:
                if status == PGRES_PIPELINE_SYNC {
                    PQclear(result)
                    expected.removeFirst()
                    if expected.isEmpty {
                        complete()
                        return
                    }
                    continue
                }
            }
            PQclear(result)
        }
        if PQstatus(pg) != CONNECTION_OK { fail(.unavailable("PostgreSQL closed the connection")) }
    }

    private func complete() {
        busyDeadline = 0
        guard let operation else { return }
        self.operation = nil
        state = .idle
        lastUsed = loop.nowMilliseconds
        do {
            let result: Result<[SQLResult], StoreError> = failure.map { .failure($0) } ?? .success(results)
            // Back in the pool before the caller's completion runs: a Store call chained from
            // that completion finds this connection idle instead of opening another.
            pool.connectionIdle(self)
            if failure == nil, operation.commitPosition != 0 { operation.commitTracker?.noteCommit(operation.commitPosition) }
            operation.finish(result)
        }
        // Drops the rows now unless a chained unit already took the connection (the buffer
        // stays for the next unit).
        if self.operation == nil { results.removeAll(keepingCapacity: true) }
    }

    static func decode(_ result: OpaquePointer) -> SQLResult {
        let rows = Int(PQntuples(result))
        let columns = Int(PQnfields(result))
        var out = SQLResult()
        // PQcmdTuples is "" or a decimal count; read it without making a String.
        var affected = 0
        var digit = PQcmdTuples(result)!
        while digit.pointee >= 0x30 && digit.pointee <= 0x39 {
            affected = affected * 10 + Int(digit.pointee - 0x30)
            digit += 1
        }
        out.affected = affected
        guard rows > 0 else { return out }
        out.rows.reserveCapacity(rows)
        for r in 0..<rows {
            var row: [SQLValue] = []
            row.reserveCapacity(columns)
            for c in 0..<columns {
                if PQgetisnull(result, Int32(r), Int32(c)) == 1 {
                    row.append(.null)
                    continue
                }
                let length = Int(PQgetlength(result, Int32(r), Int32(c)))
                let bytes = UnsafeRawBufferPointer(start: PQgetvalue(result, Int32(r), Int32(c)), count: length)
                row.append(PostgresBinary.decode(PQftype(result, Int32(c)), bytes))
            }
            out.rows.append(row)
        }
        return out
    }

    // MARK: Poll handle and close

    private func watch(_ events: UInt32) {
        guard let pg, state != .closed else { return }
        let fd = PQsocket(pg)
        guard fd >= 0 else {
            fail(.unavailable("PostgreSQL connection has no socket"))
            return
        }
        if watcher?.fd != fd {
            // libpq may open a new socket while connecting (another host, SSL fallback).
            closePoll()
            do {
                watcher = try FDWatcher(loop: loop, fd: fd) { [self] readiness in onPoll(readiness) }
            } catch {
                fail(.unavailable("cannot watch the PostgreSQL socket: \(error)"))
                return
            }
        }
        watcher?.watch(FDWatcher.Events(rawValue: Int32(events)))
    }

    private func closePoll() {
        watcher?.close()
        watcher = nil
    }

    /// Closes the connection; a running unit fails with `error` (or is retried by the pool
    /// when nothing of it can have run).
    func fail(_ error: StoreError) {
        guard state != .closed else { return }
        let wasConnecting = state == .connecting
        state = .closed
        deadline?.cancel()
        deadline = nil
        closePoll()
        if let pg { PQfinish(pg) }
        pg = nil
        let operation = self.operation
        self.operation = nil
        pool.connectionClosed(self, wasConnecting: wasConnecting, error: error,
                              operation: operation, operationMayHaveRun: sentAnything)
    }

    /// Closes an idle connection (pool shrinking, shutdown).
    func close() { fail(.unavailable("the connection pool is closing")) }

    /// Called by the pool's sweep: fails a unit the server has not answered in time.
    func checkDeadline(now: UInt64) {
        guard state == .busy, busyDeadline != 0, now > busyDeadline else { return }
        fail(.timeout("PostgreSQL did not answer in time"))
    }
}

private func trimmed(_ message: String) -> String {
    var m = Substring(message)
    while m.last?.isWhitespace == true { m = m.dropLast() }
    return m.isEmpty ? "PostgreSQL connection failed" : String(m)
}

func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    var pointers: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) }
    pointers.append(nil)
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
