import Logging
import Net

/// One JSON line per answered request, through swift-log (so the operator's log handler and
/// level apply). Off by default: it costs a few allocations per request.
final class AccessLog: Sendable {
    let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func log(_ context: RequestContext, status: HTTPStatus, nanoseconds: UInt64) {
        let request = context.request
        logger.info("request", metadata: [
            "request_id": .string(context.responder.requestID),
            "method": .string(request.method.description),
            "path": .string(request.rawPath),
            "status": .stringConvertible(status.rawValue),
            "duration_ms": .string(String(Double(nanoseconds / 1000) / 1000)),
            "remote": .string(context.responder.remoteAddress),
            "client": .string(context.clientIP),
            "bytes_in": .stringConvertible(request.bodyCount),
        ])
    }
}
