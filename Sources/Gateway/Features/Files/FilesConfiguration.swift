/// The files' settings: keys `files-max-bytes` and `files-dir` in the one configuration table.
/// Where bytes live follows the database: under `files-dir` with the embedded SQLite store,
/// in PostgreSQL (chunked) when `database-url` names one, so replicas share files without a
/// shared disk.
public struct FilesConfiguration: Sendable, Equatable {
    /// The largest upload; a bigger one is refused with 413 (at once when Content-Length says so).
    public var maximumBytes = 1 << 30
    /// The blob folder with SQLite; nil: `files` under the data directory.
    public var directory: String?

    public init() {}
}
