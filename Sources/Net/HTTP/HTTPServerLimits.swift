/// The per-request size limits the codec enforces. Defaults follow the contract:
/// 16 KiB of request line and headers, 8 MiB of body, 100 header fields.
public struct HTTPServerLimits: Sendable, Equatable {
    /// Request line plus header fields, in bytes; above it the answer is 431 (414 when the
    /// request target alone is over it).
    public var maxHeadBytes: Int = 16 * 1024
    /// Decoded body bytes (Content-Length or the sum of chunks); above it the answer is 413.
    public var maxBodyBytes: Int = 8 * 1024 * 1024
    /// Header field lines; above it the answer is 431.
    public var maxHeaderCount: Int = 100

    public init(maxHeadBytes: Int = 16 * 1024, maxBodyBytes: Int = 8 * 1024 * 1024, maxHeaderCount: Int = 100) {
        self.maxHeadBytes = maxHeadBytes
        self.maxBodyBytes = maxBodyBytes
        self.maxHeaderCount = maxHeaderCount
    }
}
