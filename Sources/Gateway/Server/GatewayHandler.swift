import Logging
import Net
import Synchronization

/// The gateway's HTTPHandler: routes each request, answers unmatched ones with the JSON error
/// shape, and records every answer in the metrics and (when enabled) the access log.
public final class GatewayHandler: HTTPHandler {
    public let router: Router
    let metrics: GatewayMetrics
    let accessLog: AccessLog?
    let logger: Logger
    let draining = Atomic<Bool>(false)
    let trustedProxies: TrustedProxies

    init(router: Router, loopCount: Int, accessLog: AccessLog?, trustedProxies: TrustedProxies = TrustedProxies(), logger: Logger) {
        self.logger = logger
        self.trustedProxies = trustedProxies
        self.router = router
        self.metrics = GatewayMetrics(loopCount: loopCount, routePatterns: router.routes.map { "\($0.method) \($0.pattern)" })
        self.accessLog = accessLog
    }

    public func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let match = request.withRawPath { router.match(request.method, rawPath: $0) }
        switch match {
        case .found(let route, let parameters):
            route.handler(RequestContext(request: request, responder: responder, parameters: parameters, routeSlot: route.index + 1, gateway: self))
        case .notFound:
            context(request, responder).send(.notFound("no route for \(request.method) \(request.rawPath)"))
        case .methodNotAllowed(let allow):
            if request.method == .options {
                context(request, responder).send(status: .noContent, headers: [("Allow", allow + ", OPTIONS")])
            } else {
                context(request, responder).send(.methodNotAllowed(allow: allow))
            }
        case .badPath:
            context(request, responder).send(.badRequest("a path segment is not valid percent-encoded UTF-8"))
        }
    }

    func context(_ request: HTTPRequest, _ responder: HTTPResponder) -> RequestContext {
        RequestContext(request: request, responder: responder, parameters: [], routeSlot: GatewayMetrics.unmatchedRoute, gateway: self)
    }

    func clientIP(_ request: HTTPRequest, _ responder: HTTPResponder) -> String {
        let peerText = responder.remoteIP
        // Without trusted proxies the socket's own spelling is stable per client: no parsing.
        guard !trustedProxies.isEmpty, let peer = IPAddress(peerText) else { return peerText }
        guard trustedProxies.isTrusted(peer) else { return peer.description }
        let values = request.headerValues("x-forwarded-for")
        return trustedProxies.client(peer: peer, forwardedFor: values.map { Substring($0) }).description
    }

    @inline(__always)
    func finish(_ context: RequestContext, status: HTTPStatus) {
        let elapsed = EventLoop.monotonicNanoseconds &- context.responder.requestStartNanoseconds
        metrics.record(loop: context.responder.loop.index, routeSlot: context.routeSlot, status: status.rawValue, nanoseconds: elapsed)
        if let accessLog { accessLog.log(context, status: status, nanoseconds: elapsed) }
    }

    public func tlsHandshakeFailed(reason: String, peer: String) {
        logger.debug("tls handshake failed", metadata: ["reason": .string(reason), "peer": .string(peer)])
    }

    public func protocolErrorBody(_ error: HTTPParseError) -> (contentType: StaticString, body: [UInt8]) {
        ("application/json", GatewayError.body(type: GatewayError.protocolErrorType(error.status), message: error.description.split(separator: " ", maxSplits: 1).last.map(String.init) ?? "malformed request"))
    }
}
