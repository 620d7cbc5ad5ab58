/// The documents' settings: keys `document-cache`, `document-cache-ttl` and
/// `document-cache-max-bytes` in the one configuration table.
public struct DocumentsConfiguration: Sendable, Equatable {
    public enum CacheMode: String, Sendable { case auto, off }
    /// `auto`: Redis when `redis-url` is set, this process with the embedded database, off
    /// with PostgreSQL and no Redis (`DocumentCache` says why).
    public var cache = CacheMode.auto
    public var cacheTTLMs: UInt64 = 60_000
    /// Bytes the in-process cache may hold (Redis is bounded by its own `maxmemory`).
    public var cacheMaximumBytes = 64 << 20

    public init() {}
}
