/// What the server calls for every well-formed request. One handler serves every loop, so it
/// must be safe to call concurrently; it answers through the responder, now or later on the
/// same loop.
public protocol HTTPHandler: AnyObject, Sendable {
    func handle(_ request: HTTPRequest, _ responder: HTTPResponder)

    /// The body of the answer to a request the codec rejected (the server adds status,
    /// `Connection: close` and closes).
    func protocolErrorBody(_ error: HTTPParseError) -> (contentType: StaticString, body: [UInt8])

    /// For a request with a body, asked when its head is complete: the most bytes this request's
    /// route reads as a stream (`HTTPBodySink`), or nil to have the body buffered whole within
    /// the server's `maxBodyBytes` before `handle` (what nearly every route wants).
    func streamedBodyLimit(_ request: HTTPRequest) -> Int?

    /// A TLS handshake failed (`reason` is a `tls_handshake_failures_total` label); for logs.
    func tlsHandshakeFailed(reason: String, peer: String)

    /// A request's life ended: its whole response is in the connection's output, in order
    /// (`completed`), or the connection closed before the answer was complete (client gone,
    /// send timeout, drain). Called once per handled request, on its loop; what metrics and
    /// access logs hang on, so they count only what went out.
    func responseEnded(_ end: HTTPResponseEnd)
}

/// What `HTTPHandler.responseEnded` reports. `request` and `responder` are valid only during
/// the call (the connection reuses its parser for the next request); they are made only when
/// asked for (an access log), so reporting costs no reference counting per request.
public struct HTTPResponseEnd {
    @usableFromInline enum Source {
        case connection(Unmanaged<HTTPConnection>, generation: UInt32)
        case recorded(HTTPRequest, HTTPResponder)
    }
    @usableFromInline let source: Source
    /// The index of the loop the request lived on.
    public let loopIndex: Int
    /// The status sent (or being sent, when the stream was cut); 0 when nothing was sent.
    public let status: Int
    /// What the handler set with `HTTPResponder.setTag` (a route's metrics slot); 0 if nothing.
    public let tag: Int
    public let completed: Bool
    /// Monotonic nanoseconds from the request's first byte to now.
    public let nanoseconds: UInt64

    public var request: HTTPRequest {
        switch source {
        case .connection(let connection, _): return HTTPRequest(codec: connection.takeUnretainedValue().codec)
        case .recorded(let request, _): return request
        }
    }

    public var responder: HTTPResponder {
        switch source {
        case .connection(let connection, let generation): return HTTPResponder(connection: connection.takeUnretainedValue(), generation: generation)
        case .recorded(_, let responder): return responder
        }
    }

    init(source: Source, loopIndex: Int, status: Int, tag: Int, completed: Bool, nanoseconds: UInt64) {
        self.source = source
        self.loopIndex = loopIndex
        self.status = status
        self.tag = tag
        self.completed = completed
        self.nanoseconds = nanoseconds
    }
}

extension HTTPHandler {
    public func streamedBodyLimit(_ request: HTTPRequest) -> Int? { nil }

    public func responseEnded(_ end: HTTPResponseEnd) {}

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
