import Logging
import Net

/// One JSON line per request that ended, through swift-log (so the operator's log handler and
/// level apply). Off by default: it costs a few allocations per request.
final class AccessLog: Sendable {
    let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func log(_ end: HTTPResponseEnd, client: String) {
        let request = end.request
        logger.info("request", metadata: [
            "request_id": .string(end.responder.requestID),
            "method": .string(request.method.description),
            "path": .string(request.rawPath),
            "status": .stringConvertible(end.status),
            "outcome": .string(end.completed ? "sent" : "abandoned"),
            "duration_ms": .string(String(Double(end.nanoseconds / 1000) / 1000)),
            "remote": .string(end.responder.remoteAddress),
            "client": .string(client),
            "bytes_in": .stringConvertible(request.bodyCount),
        ])
    }
}
