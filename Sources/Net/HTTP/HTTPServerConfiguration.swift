/// Everything the HTTP front door needs to know, with defaults that serve one user on one
/// machine safely. Times are in milliseconds.
public struct HTTPServerConfiguration: Sendable, Equatable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    public var backlog: Int32 = 4096
    public var limits = HTTPServerLimits()
    /// From the first byte of a request until its last header line (kills slowloris).
    public var headerTimeoutMs: UInt64 = 10_000
    /// Longest silence allowed between two reads of a request body.
    public var bodyTimeoutMs: UInt64 = 30_000
    /// An idle keep-alive connection is closed after this long.
    public var idleTimeoutMs: UInt64 = 60_000
    /// A response the client does not read for this long closes the connection.
    public var sendTimeoutMs: UInt64 = 60_000
    /// After the last response of a closing connection, how long unread input is drained
    /// before the socket is closed (so the client sees the response, not a reset).
    public var lingerTimeoutMs: UInt64 = 2_000
    /// Responses queued on one connection before the server stops reading from it until the
    /// client has taken them.
    public var maxPipelinedResponses: Int = 64
    /// Open connections per loop; one more is accepted and closed at once.
    public var maxConnectionsPerLoop: Int = 16_384
    /// A TLS listener on this port (0 picks a free one) when `tls` is set; the plain
    /// listener stays on `port` unless `plainListener` is false.
    public var tlsPort: Int = 8443
    public var tls: TLSConfiguration?
    public var plainListener = true
    /// Plain requests are answered 308 with the https:// URL instead of being served.
    public var redirectPlainToTLS = false
    /// The header that carries a request's id: echoed when the client sent a sane one,
    /// generated otherwise, on every response.
    public var requestIDHeader = "X-Request-Id"

    public init() {}
}
