import CSQLite
import CUV
import Dispatch
import Net
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The embedded backend: one SQLite file in WAL mode, one writer connection on its own
/// thread, reader connections on libuv's worker pool.
///
/// Writes queue to the writer thread, which commits everything queued so far in one
/// transaction (each unit in its own savepoint, so one unit's failure does not undo
/// another's) — group commit, one fsync for many acknowledged writes. A unit's completion
/// runs only after its transaction committed.
public final class SQLiteBackend: SQLBackend, @unchecked Sendable {
    // @unchecked: the writer connection is used only on the writer thread; reader connections
    // are handed out under `readers`' lock; the queue is guarded by `lock`/`wake`.

    public let dialect = SQLDialect.sqlite
    public let path: String
    let synchronousFull: Bool
    let busyTimeoutMilliseconds: Int32
    /// On the heap: a pthread mutex or condition must not move, and a stored property of a
    /// class has no stable address to pass with `&`.
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var queue: [WriterItem] = []
    private var stopping = false
    private var thread: pthread_t?
    private let readers = Mutex<[SQLiteConnection]>([])
    /// The largest number of queued units one transaction commits.
    static let groupLimit = 256

    /// Opens (creating if needed) the database at `path`. The directory must exist.
    public init(path: String, synchronousFull: Bool = false, busyTimeoutMilliseconds: Int32 = 5000) throws(StoreError) {
        self.path = path
        self.synchronousFull = synchronousFull
        self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
        let writer = try SQLiteConnection(path: path, readOnly: false, synchronousFull: synchronousFull,
                                          busyTimeoutMilliseconds: busyTimeoutMilliseconds)
        pthread_mutex_init(lock, nil)
        pthread_cond_init(wake, nil)
        let context = Unmanaged.passRetained(WriterThreadContext(backend: self, connection: writer)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, sqliteWriterThreadMain, context)
        precondition(rc == 0, "pthread_create failed")
        self.thread = thread
    }

    deinit {
        pthread_mutex_destroy(lock)
        pthread_cond_destroy(wake)
        lock.deallocate()
        wake.deallocate()
    }

    public func run(_ statements: [Statement], readOnly: Bool, on loop: EventLoop,
                    _ completion: @escaping (Result<[SQLResult], StoreError>) -> Void) {
        if readOnly {
            loop.submit({ [self] in self.read(statements) }, completion: completion)
            return
        }
        let unit = PendingUnit(statements: statements, loop: loop, completion: completion)
        guard enqueue(.unit(unit)) else {
            completion(.failure(.unavailable("the database is closed")))
            return
        }
    }

    private func enqueue(_ item: WriterItem) -> Bool {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        guard !stopping else { return false }
        queue.append(item)
        if queue.count == 1 { pthread_cond_signal(wake) }
        return true
    }

    /// Runs `body` on the writer thread and waits for it: migrations, backup, restore.
    public func withWriter<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnectionHandle) throws(StoreError) -> T) throws(StoreError) -> T {
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox<T>()
        let accepted = enqueue(.task { connection in
            do throws(StoreError) { box.value = .success(try body(SQLiteConnectionHandle(connection))) }
            catch { box.value = .failure(error) }
            done.signal()
        })
        guard accepted else { throw .unavailable("the database is closed") }
        done.wait()
        return try box.value!.get()
    }

    public func withSession<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws(StoreError) -> T) throws(StoreError) -> T {
        try withWriter { connection throws(StoreError) in try body(connection) }
    }

    public func shutdown() {
        pthread_mutex_lock(lock)
        let wasStopping = stopping
        stopping = true
        pthread_cond_signal(wake)
        pthread_mutex_unlock(lock)
        if !wasStopping, let thread { pthread_join(thread, nil) }
        readers.withLock { $0.removeAll() }
    }

    // MARK: Readers

    private func read(_ statements: [Statement]) -> Result<[SQLResult], StoreError> {
        let connection: SQLiteConnection
        if let pooled = readers.withLock({ $0.popLast() }) {
            connection = pooled
        } else {
            do throws(StoreError) {
                connection = try SQLiteConnection(path: path, readOnly: true, synchronousFull: synchronousFull,
                                                  busyTimeoutMilliseconds: busyTimeoutMilliseconds)
            } catch { return .failure(error) }
        }
        defer { readers.withLock { $0.append(connection) } }
        do throws(StoreError) {
            if statements.count == 1 { return .success([try connection.run(statements[0])]) }
            // Several reads see one snapshot.
            try connection.execute("BEGIN")
            defer { try? connection.execute("COMMIT") }
            var results: [SQLResult] = []
            for statement in statements { results.append(try connection.run(statement)) }
            return .success(results)
        } catch { return .failure(error) }
    }

    // MARK: Writer thread

    fileprivate func writerMain(_ connection: SQLiteConnection) {
        while true {
            pthread_mutex_lock(lock)
            while queue.isEmpty && !stopping { pthread_cond_wait(wake, lock) }
            if queue.isEmpty && stopping {
                pthread_mutex_unlock(lock)
                return
            }
            let taken = min(queue.count, SQLiteBackend.groupLimit)
            let batch = Array(queue.prefix(taken))
            queue.removeFirst(taken)
            pthread_mutex_unlock(lock)

            var units: [PendingUnit] = []
            for item in batch {
                switch item {
                case .unit(let unit): units.append(unit)
                case .task(let task):
                    commit(units, on: connection)
                    units.removeAll()
                    task(connection)
                }
            }
            commit(units, on: connection)
        }
    }

    private func commit(_ units: [PendingUnit], on connection: SQLiteConnection) {
        guard !units.isEmpty else { return }
        var results: [Result<[SQLResult], StoreError>] = []
        results.reserveCapacity(units.count)
        do throws(StoreError) {
            try connection.execute("BEGIN IMMEDIATE")
        } catch {
            for unit in units { unit.deliver(.failure(error)) }
            return
        }
        let isolate = units.count > 1
        for unit in units {
            do throws(StoreError) {
                if isolate { try connection.execute("SAVEPOINT unit") }
                var unitResults: [SQLResult] = []
                unitResults.reserveCapacity(unit.statements.count)
                for statement in unit.statements { unitResults.append(try connection.run(statement)) }
                if isolate { try connection.execute("RELEASE unit") }
                results.append(.success(unitResults))
            } catch {
                if isolate {
                    try? connection.execute("ROLLBACK TO unit")
                    try? connection.execute("RELEASE unit")
                }
                results.append(.failure(error))
                if !isolate {
                    try? connection.execute("ROLLBACK")
                    unit.deliver(.failure(error))
                    return
                }
            }
        }
        do throws(StoreError) {
            try connection.execute("COMMIT")
        } catch {
            try? connection.execute("ROLLBACK")
            for unit in units { unit.deliver(.failure(error)) }
            return
        }
        for (unit, result) in zip(units, results) { unit.deliver(result) }
    }
}

/// The writer connection lent to a `withWriter` body (on the writer thread only).
public struct SQLiteConnectionHandle: SQLSession, @unchecked Sendable {
    // @unchecked: only ever used on the writer thread that created it.
    let connection: SQLiteConnection
    init(_ connection: SQLiteConnection) { self.connection = connection }
    public var raw: OpaquePointer { connection.handle }
    public var dialect: SQLDialect { .sqlite }
    public func execute(_ sql: String) throws(StoreError) { try connection.execute(sql) }
    public func rows(_ sql: String) throws(StoreError) -> [[SQLValue]] { try connection.rows(sql) }
}

extension SQLiteConnection: @unchecked Sendable {}
// @unchecked: a connection is used by one thread at a time, handed over under a lock.

private enum WriterItem {
    case unit(PendingUnit)
    case task(@Sendable (SQLiteConnection) -> Void)
}

private final class PendingUnit: @unchecked Sendable {
    // @unchecked: built on the loop, read on the writer thread after the queue's lock hands it
    // over; `completion` runs only back on `loop`.
    let statements: [Statement]
    let loop: EventLoop
    let completion: (Result<[SQLResult], StoreError>) -> Void

    init(statements: [Statement], loop: EventLoop, completion: @escaping (Result<[SQLResult], StoreError>) -> Void) {
        self.statements = statements
        self.loop = loop
        self.completion = completion
    }

    func deliver(_ result: Result<[SQLResult], StoreError>) {
        loop.execute { [self] in self.completion(result) }
    }
}

private final class ResultBox<T>: @unchecked Sendable {
    // @unchecked: written by the writer thread before the semaphore is signalled, read after.
    var value: Result<T, StoreError>?
}

private final class WriterThreadContext {
    let backend: SQLiteBackend
    let connection: SQLiteConnection
    init(backend: SQLiteBackend, connection: SQLiteConnection) {
        self.backend = backend
        self.connection = connection
    }
}

private func sqliteWriterThreadMain(_ arg: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    let context = Unmanaged<WriterThreadContext>.fromOpaque(arg!).takeRetainedValue()
    cuv_set_thread_name("aiw-sqlite-w")
    context.backend.writerMain(context.connection)
    return nil
}
