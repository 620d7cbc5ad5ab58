import Net
import Storage

/// What a request carries through its pipeline: the request, its path parameters, the way to
/// answer, and what the stages found out (the principal, the key's rate-limit state). A value:
/// a stage enriches a copy and hands it on, so the synchronous path (a cached key, the local
/// limiter) allocates nothing for it.
///
/// Every answer goes through `send`, which adds the headers the stages decided every answer
/// carries (`RateLimit-Policy` and `RateLimit` on limited routes); metrics and the access log
/// are not recorded here but when Net reports the response went out (`responseEnded`).
public struct RequestContext: @unchecked Sendable {
    // @unchecked: a request lives its whole life on one loop; its context (and the responder
    // and request views inside) is used only there, including from tasks whose executor is it.

    public let request: HTTPRequest
    public let responder: HTTPResponder
    public let parameters: [(String, String)]
    /// Who is calling; set by the authentication stage.
    public internal(set) var principal: Principal?
    /// The key's limit state, sent on every answer of a limited route.
    public internal(set) var rateLimit: RateLimitHeaders?
    /// The handler's; it outlives every request, so no reference count is paid per copy.
    unowned(unsafe) let environment: RequestEnvironment
    /// The route's error shape (nil: ours), applied to every `GatewayError` sent.
    let errorShape: ErrorShape?

    init(request: HTTPRequest, responder: HTTPResponder, parameters: [(String, String)], environment: RequestEnvironment,
         errorShape: ErrorShape? = nil) {
        self.request = request
        self.responder = responder
        self.parameters = parameters
        self.environment = environment
        self.errorShape = errorShape
    }

    /// A path parameter by name ("id" for "/v1/documents/:id").
    public func parameter(_ name: String) -> String? {
        parameters.first { $0.0 == name }?.1
    }

    /// The client's IP address: the peer's, or, when the peer is a trusted proxy, the one
    /// its `X-Forwarded-For` chain vouches for (see `TrustedProxies`). Canonical spelling.
    public var clientIP: String { environment.clientIP(request, responder) }

    /// The loop this request lives on.
    public var loop: EventLoop { responder.loop }

    /// The authenticated principal; only for routes whose access is `.role(_)`, where the
    /// pipeline guarantees one.
    public var caller: Principal {
        guard let principal else { preconditionFailure("route without authentication asked for its principal") }
        return principal
    }

    /// Answers with `headers` plus the pipeline's own.
    public func send(status: HTTPStatus = .ok, contentType: StaticString? = nil, headers: [(String, String)] = [], body: HTTPBody = .empty) {
        responder.send(status: status, contentType: contentType, headers: withPipelineHeaders(headers, status: status), body: body)
    }

    /// A JSON answer.
    public func sendJSON(status: HTTPStatus = .ok, _ bytes: [UInt8], headers: [(String, String)] = []) {
        send(status: status, contentType: "application/json", headers: headers, body: .bytes(bytes))
    }

    /// An error in its own shape (ours, Chroma's, OpenAI's).
    public func send(_ error: some ErrorResponse) {
        send(status: error.status, contentType: error.contentType, headers: error.headers, body: .bytes(error.body()))
    }

    /// A pipeline or gateway error, in the route's surface's shape.
    public func send(_ error: GatewayError) {
        if let errorShape {
            let shaped = errorShape(error)
            send(status: shaped.status, contentType: shaped.contentType, headers: shaped.headers, body: .bytes(shaped.body()))
        } else {
            send(status: error.status, contentType: error.contentType, headers: error.headers, body: .bytes(error.body()))
        }
    }

    /// A storage error, mapped once (`GatewayError(StoreError)`).
    public func send(_ error: StoreError) {
        send(GatewayError(error))
    }

    /// Starts a streamed answer (Server-Sent Events, chunked downloads) with the pipeline's headers.
    public func startStream(status: HTTPStatus = .ok, contentType: StaticString?, headers: [(String, String)] = [], contentLength: Int? = nil) {
        responder.startStream(status: status, contentType: contentType, headers: withPipelineHeaders(headers, status: status), contentLength: contentLength)
    }

    /// Built in place: a generic `+` of two tuple arrays copied each element through value
    /// witnesses and allocated twice (seen in the `/v1/ping` profile, Benchmarks/RESULTS.md).
    @inline(__always)
    func withPipelineHeaders(_ headers: [(String, String)], status: HTTPStatus) -> [(String, String)] {
        let readAfter = environment.readsLagWrites ? readAfterToken(status) : nil
        guard rateLimit != nil || readAfter != nil else { return headers }
        var all = headers
        all.reserveCapacity(headers.count + 3)
        if let rateLimit {
            all.append(("RateLimit-Policy", rateLimit.policy))
            all.append(("RateLimit", rateLimit.state))
        }
        if let readAfter { all.append((RequestContext.readAfterHeader, readAfter.description)) }
        return all
    }

    // MARK: Read-your-writes

    /// The token a successful write answers with when reads may come from a lagging standby;
    /// sent back on a read, that read sees the write (`reading(_:)`).
    static let readAfterHeader = "X-AIWriter-Read-After"

    private func readAfterToken(_ status: HTTPStatus) -> WALPosition? {
        let method = request.method
        guard method != .get, method != .head, method != .options, (200..<300).contains(status.rawValue) else { return nil }
        return environment.store?.commitPosition(on: loop)
    }

    /// The store a read handler uses: when the client sent `X-AIWriter-Read-After` (the token
    /// from its last write, on whichever replica it reached), one whose reads see that write —
    /// from the standby once it has replayed that far, else from the primary. A malformed token
    /// is an error, not ignored: ignoring it would silently drop the guarantee the client asked for.
    public func reading(_ store: Store) throws(GatewayError) -> Store {
        guard let text = request.header(RequestContext.readAfterHeader) else { return store }
        guard let position = WALPosition(text) else {
            throw .badRequest("\(RequestContext.readAfterHeader) must be a WAL position as a write answered it (like 0/16B3748)")
        }
        return store.reading(after: position)
    }
}

/// `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers-10) for one answer.
public struct RateLimitHeaders: Sendable {
    public let policy: String
    public let state: String
}

/// What every request's context shares, made once per server: how to find the client's
/// address behind trusted proxies.
final class RequestEnvironment: Sendable {
    let trustedProxies: TrustedProxies
    /// Where writes' read-your-writes tokens come from.
    let store: Store?
    /// Whether reads may come from a lagging standby (so writes answer a token); asked once.
    let readsLagWrites: Bool

    init(trustedProxies: TrustedProxies, store: Store? = nil) {
        self.trustedProxies = trustedProxies
        self.store = store
        readsLagWrites = store?.backend.servesReadsFromStandby ?? false
    }

    func clientIP(_ request: HTTPRequest, _ responder: HTTPResponder) -> String {
        let peerText = responder.remoteIP
        // Without trusted proxies the socket's own spelling is stable per client: no parsing.
        guard !trustedProxies.isEmpty, let peer = IPAddress(peerText) else { return peerText }
        guard trustedProxies.isTrusted(peer) else { return peer.description }
        let values = request.headerValues("x-forwarded-for")
        return trustedProxies.client(peer: peer, forwardedFor: values.map { Substring($0) }).description
    }
}
