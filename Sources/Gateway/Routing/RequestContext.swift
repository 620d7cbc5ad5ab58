import Net

/// What a route handler gets: the request, its path parameters, and the way to answer. Every
/// answer goes through here so that metrics and the access log see it.
public struct RequestContext {
    public let request: HTTPRequest
    public let responder: HTTPResponder
    public let parameters: [(String, String)]
    let routeSlot: Int
    let gateway: GatewayHandler

    /// A path parameter by name ("id" for "/v1/documents/:id").
    public func parameter(_ name: String) -> String? {
        parameters.first { $0.0 == name }?.1
    }

    /// The client's IP address: the peer's, or, when the peer is a trusted proxy, the one
    /// its `X-Forwarded-For` chain vouches for (see `TrustedProxies`). Canonical spelling.
    public var clientIP: String { gateway.clientIP(request, responder) }

    /// The loop this request lives on.
    public var loop: EventLoop { responder.loop }

    public func send(status: HTTPStatus = .ok, contentType: StaticString? = nil, headers: [(String, String)] = [], body: HTTPBody = .empty) {
        gateway.finish(self, status: status)
        responder.send(status: status, contentType: contentType, headers: headers, body: body)
    }

    /// A JSON answer.
    public func sendJSON(status: HTTPStatus = .ok, _ bytes: [UInt8], headers: [(String, String)] = []) {
        send(status: status, contentType: "application/json", headers: headers, body: .bytes(bytes))
    }

    /// The error shape of ARCHITECTURE.md.
    public func send(_ error: GatewayError) {
        sendJSON(status: error.status, error.body, headers: error.headers)
    }
}
