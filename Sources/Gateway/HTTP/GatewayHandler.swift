import Logging
import Net
import Storage

/// The gateway's HTTPHandler: routes each request into its route's pipeline, answers unmatched
/// ones with the JSON error shape, and — when Net reports a response went out — records it in
/// the metrics and (when enabled) the access log.
public final class GatewayHandler: HTTPHandler {
    public let router: Router
    let metrics: GatewayMetrics
    let accessLog: AccessLog?
    let logger: Logger
    let environment: RequestEnvironment

    init(router: Router, loopCount: Int, accessLog: AccessLog?, trustedProxies: TrustedProxies = TrustedProxies(), store: Store? = nil,
         logger: Logger) {
        self.logger = logger
        self.environment = RequestEnvironment(trustedProxies: trustedProxies, store: store)
        self.router = router
        self.metrics = GatewayMetrics(loopCount: loopCount, routePatterns: router.routes.map { "\($0.method) \($0.pattern)" })
        self.accessLog = accessLog
    }

    public func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let match = request.withRawPath { router.match(request.method, rawPath: $0) }
        switch match {
        case .found(let route, let parameters):
            responder.setTag(route.index + 1)
            route.start(RequestContext(request: request, responder: responder, parameters: parameters, environment: environment,
                                       errorShape: route.errorShape))
        case .notFound:
            if let fallback = request.withRawPath({ router.fallback(for: request.method, rawPath: $0) }) {
                responder.setTag(fallback.index + 1)
                return fallback.start(RequestContext(request: request, responder: responder, parameters: [], environment: environment,
                                                     errorShape: nil))
            }
            context(request, responder).send(GatewayError.notFound("no route for \(request.method) \(request.rawPath)"))
        case .methodNotAllowed(let allow):
            if request.method == .options {
                context(request, responder).send(status: .noContent, headers: [("Allow", allow + ", OPTIONS")])
            } else {
                context(request, responder).send(GatewayError.methodNotAllowed(allow: allow))
            }
        case .badPath:
            context(request, responder).send(GatewayError.badRequest("a path segment is not valid percent-encoded UTF-8"))
        }
    }

    /// Only a route registered to stream its body does (file uploads); the path is matched once
    /// more in `handle`, a cost only requests with bodies pay.
    public func streamedBodyLimit(_ request: HTTPRequest) -> Int? {
        guard case .found(let route, _) = request.withRawPath({ router.match(request.method, rawPath: $0) }) else { return nil }
        return route.streamedBodyLimit
    }

    /// The features every gateway serves, in registration order.
    static var features: [any GatewayFeature.Type] { [OperationsFeature.self, KeysFeature.self, CollectionsFeature.self, AIProxyFeature.self, DocumentsFeature.self,
                                                       FilesFeature.self, JobsFeature.self, StaticAssetsFeature.self] }

    /// The handler for `services`: every feature's routes (then `extraRoutes`) behind the
    /// stages their access asks for, its request metrics registered. What the server and the
    /// socket-free test harness both run.
    static func make(services: GatewayServices, loopCount: Int, accessLog: AccessLog?,
                     extraRoutes: (RouterBuilder, GatewayServices) -> Void = { _, _ in }) -> GatewayHandler {
        let router = RouterBuilder(stages: { services.stages(for: $0) })
        for feature in features { feature.register(on: router, services: services) }
        extraRoutes(router, services)
        let handler = GatewayHandler(router: router.build(), loopCount: loopCount, accessLog: accessLog,
                                     trustedProxies: services.configuration.trustedProxies, store: services.store, logger: services.logger)
        services.metrics.register("http-requests") { handler.metrics.write(into: &$0) }
        return handler
    }

    func context(_ request: HTTPRequest, _ responder: HTTPResponder) -> RequestContext {
        let shape = request.withRawPath { router.errorShape(forRawPath: $0) }
        return RequestContext(request: request, responder: responder, parameters: [], environment: environment, errorShape: shape)
    }

    /// Only responses that went out are counted (an abandoned one is logged, not counted).
    public func responseEnded(_ end: HTTPResponseEnd) {
        if end.completed {
            metrics.record(loop: end.loopIndex, routeSlot: end.tag, status: end.status, nanoseconds: end.nanoseconds)
        }
        if let accessLog { accessLog.log(end, client: environment.clientIP(end.request, end.responder)) }
    }

    public func tlsHandshakeFailed(reason: String, peer: String) {
        logger.debug("tls handshake failed", metadata: ["reason": .string(reason), "peer": .string(peer)])
    }

    public func protocolErrorBody(_ error: HTTPParseError) -> (contentType: StaticString, body: [UInt8]) {
        ("application/json", GatewayError.body(type: GatewayError.protocolErrorType(error.status), message: error.description.split(separator: " ", maxSplits: 1).last.map(String.init) ?? "malformed request"))
    }
}
