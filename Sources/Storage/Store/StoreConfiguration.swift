import Net
#if canImport(Glibc)
import Glibc
#endif

/// Where the store lives and how it is reached: SQLite under a data directory unless a
/// PostgreSQL URL is given.
public struct StoreConfiguration: Sendable {
    /// `postgres://…` (or `postgresql://…`); nil means SQLite under `dataDirectory`.
    public var databaseURL: String?
    /// A read replica for read-only units (PostgreSQL only).
    public var replicaURL: String?
    public var dataDirectory: String
    /// SQLite `synchronous=FULL` (survives power loss, not only process crashes).
    public var sqliteSynchronousFull: Bool
    public var minimumConnections: Int
    public var maximumConnections: Int
    public var statementTimeoutMilliseconds: Int
    public var connectTimeoutMilliseconds: Int

    public init(databaseURL: String? = nil, replicaURL: String? = nil, dataDirectory: String = "./data",
                sqliteSynchronousFull: Bool = false, minimumConnections: Int = 1, maximumConnections: Int = 8,
                statementTimeoutMilliseconds: Int = 5000, connectTimeoutMilliseconds: Int = 5000) {
        self.databaseURL = databaseURL
        self.replicaURL = replicaURL
        self.dataDirectory = dataDirectory
        self.sqliteSynchronousFull = sqliteSynchronousFull
        self.minimumConnections = minimumConnections
        self.maximumConnections = maximumConnections
        self.statementTimeoutMilliseconds = statementTimeoutMilliseconds
        self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
    }

    public var isPostgres: Bool { databaseURL != nil }

    /// The SQLite file used when no database URL is set.
    public var sqlitePath: String { dataDirectory + "/aiwriter.sqlite3" }

    /// Opens the backend this configuration names (no migration; see `Migrator`).
    public func openBackend() throws(StoreError) -> any SQLBackend {
        if let url = databaseURL {
            guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
                throw .invalid("database URL must start with postgres:// or postgresql://")
            }
            let primary = PostgresConnectionSettings(url: url, statementTimeoutMilliseconds: statementTimeoutMilliseconds,
                                                     connectTimeoutMilliseconds: connectTimeoutMilliseconds)
            let replica = replicaURL.map {
                PostgresConnectionSettings(url: $0, statementTimeoutMilliseconds: statementTimeoutMilliseconds,
                                           connectTimeoutMilliseconds: connectTimeoutMilliseconds)
            }
            return PostgresBackend(primary: primary, replica: replica, minimumConnections: minimumConnections,
                                   maximumConnections: maximumConnections)
        }
        if mkdir(dataDirectory, 0o700) != 0 && errno != EEXIST {
            throw .unavailable("cannot create data directory \(dataDirectory): \(String(cString: strerror(errno)))")
        }
        return try SQLiteBackend(path: sqlitePath, synchronousFull: sqliteSynchronousFull,
                                 busyTimeoutMilliseconds: Int32(statementTimeoutMilliseconds))
    }
}

extension EventLoop {
    /// Runs a callback-style Store operation on this loop and waits for it, from any task
    /// (the loop's executor does the hop; see `Store+Async`).
    public func perform<T>(_ operation: (EventLoop, @escaping (Result<T, StoreError>) -> Void) -> Void) async throws(StoreError) -> T {
        try await awaiting { operation(self, $0) }
    }
}
