/// What the server calls for every well-formed request. One handler serves every loop, so it
/// must be safe to call concurrently; it answers through the responder, now or later on the
/// same loop.
public protocol HTTPHandler: AnyObject, Sendable {
    func handle(_ request: HTTPRequest, _ responder: HTTPResponder)

    /// The body of the answer to a request the codec rejected (the server adds status,
    /// `Connection: close` and closes).
    func protocolErrorBody(_ error: HTTPParseError) -> (contentType: StaticString, body: [UInt8])

    /// A TLS handshake failed (`reason` is a `tls_handshake_failures_total` label); for logs.
    func tlsHandshakeFailed(reason: String, peer: String)
}

extension HTTPHandler {
    public func tlsHandshakeFailed(reason: String, peer: String) {}

    public func protocolErrorBody(_ error: HTTPParseError) -> (contentType: StaticString, body: [UInt8]) {
        ("text/plain; charset=utf-8", Array("\(error.reason)\n".utf8))
    }
}

/// A response body.
public enum HTTPBody {
    case empty
    case staticString(StaticString)
    case bytes([UInt8])
    case string(String)
}
