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
