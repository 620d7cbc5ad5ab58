/// The static folder's settings: keys `static-dir` (off when empty), `static-cache-control` and
/// `static-max-file-bytes` in the one configuration table.
public struct StaticAssetsConfiguration: Sendable, Equatable {
    /// The folder served at `/`; nil: nothing is.
    public var directory: String?
    /// `Cache-Control` of every static answer: revalidate by default (each answer has a
    /// validator, so a revalidation is a 304 without a body).
    public var cacheControl = "no-cache"
    /// The largest file (or range of one) answered; files are read whole into memory.
    public var maximumFileBytes = 64 << 20

    public init() {}
}
