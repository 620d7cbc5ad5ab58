import Net

/// What the Store needs from a database: run a few statements atomically and hand the
/// results back on the caller's loop.
///
/// A unit is all-or-nothing: either every statement's result comes back, or an error and
/// nothing of the unit is stored. Units marked read-only may go to a replica (PostgreSQL) or
/// a reader connection on the worker pool (SQLite).
public protocol SQLBackend: AnyObject, Sendable {
    var dialect: SQLDialect { get }

    /// Runs `statements` as one transaction. `completion` runs on `loop`.
    func run(_ statements: [Statement], readOnly: Bool, on loop: EventLoop,
             _ completion: @escaping (Result<[SQLResult], StoreError>) -> Void)

    /// Runs `body` with a blocking session of its own (migrations, backups, counts), on the
    /// calling thread. Not for loop threads.
    func withSession<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws(StoreError) -> T) throws(StoreError) -> T

    /// Closes every connection. Pending work fails with `unavailable`.
    func shutdown()

    /// Runs a read-only unit that must see every write committed up to `position` (a client's
    /// read-your-writes token): on a standby that has replayed that far, else the primary.
    func run(_ statements: [Statement], readAfter position: WALPosition, on loop: EventLoop,
             _ completion: @escaping (Result<[SQLResult], StoreError>) -> Void)

    /// Whether read-only units may be answered by a standby that lags the primary.
    var servesReadsFromStandby: Bool { get }

    /// A position covering every write this loop has committed, when reads can lag writes.
    func commitPosition(on loop: EventLoop) -> WALPosition?
}

extension SQLBackend {
    /// One database (SQLite, PostgreSQL without a standby): every read sees every commit.
    public func run(_ statements: [Statement], readAfter position: WALPosition, on loop: EventLoop,
                    _ completion: @escaping (Result<[SQLResult], StoreError>) -> Void) {
        run(statements, readOnly: true, on: loop, completion)
    }

    public var servesReadsFromStandby: Bool { false }

    public func commitPosition(on loop: EventLoop) -> WALPosition? { nil }
}

/// A backend whose reads must see everything up to `position`: what `Store.reading(after:)`
/// hands a request that carries a read-your-writes token. Writes pass through.
final class ReadAfterBackend: SQLBackend {
    let base: any SQLBackend
    let position: WALPosition

    init(base: any SQLBackend, position: WALPosition) {
        self.base = base
        self.position = position
    }

    var dialect: SQLDialect { base.dialect }
    var servesReadsFromStandby: Bool { base.servesReadsFromStandby }

    func run(_ statements: [Statement], readOnly: Bool, on loop: EventLoop,
             _ completion: @escaping (Result<[SQLResult], StoreError>) -> Void) {
        if readOnly { base.run(statements, readAfter: position, on: loop, completion) }
        else { base.run(statements, readOnly: false, on: loop, completion) }
    }

    func withSession<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws(StoreError) -> T) throws(StoreError) -> T {
        try base.withSession(body)
    }

    func commitPosition(on loop: EventLoop) -> WALPosition? { base.commitPosition(on: loop) }

    /// Not its to close: the base backend belongs to the gateway.
    func shutdown() {}
}

/// A blocking connection for administrative work: scripts with several statements, advisory
/// locks held across statements, counts.
public protocol SQLSession {
    var dialect: SQLDialect { get }
    /// Runs SQL text (possibly several statements) without parameters.
    func execute(_ sql: String) throws(StoreError)
    /// Rows of one query without parameters.
    func rows(_ sql: String) throws(StoreError) -> [[SQLValue]]
}
