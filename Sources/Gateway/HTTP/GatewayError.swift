import Net

/// An error answer: every one leaves as `{"error": {"type": ..., "message": ...}}` with the
/// status its type implies, so clients branch on `type` and never parse messages.
public struct GatewayError: Error, Sendable {
    public let status: HTTPStatus
    public let type: String
    public let message: String
    public var headers: [(String, String)]

    public init(_ status: HTTPStatus, _ type: String, _ message: String, headers: [(String, String)] = []) {
        self.status = status
        self.type = type
        self.message = message
        self.headers = headers
    }

    public static func badRequest(_ message: String) -> GatewayError { .init(.badRequest, "invalid_request", message) }
    public static func notFound(_ message: String = "no such resource") -> GatewayError { .init(.notFound, "not_found", message) }
    public static func methodNotAllowed(allow: String) -> GatewayError {
        .init(.methodNotAllowed, "method_not_allowed", "this resource allows \(allow)", headers: [("Allow", allow)])
    }
    public static func unavailable(_ message: String, retryAfterSeconds: Int) -> GatewayError {
        .init(.serviceUnavailable, "unavailable", message, headers: [("Retry-After", String(retryAfterSeconds))])
    }

    static func body(type: String, message: String) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{\"error\":{\"type\":")
        w.string(type)
        w.raw(",\"message\":")
        w.string(message)
        w.raw("}}\n")
        return w.bytes
    }

    /// The `type` of a protocol error the codec answered, by status.
    static func protocolErrorType(_ status: HTTPStatus) -> String {
        switch status.rawValue {
        case 408: return "request_timeout"
        case 413: return "payload_too_large"
        case 414: return "uri_too_long"
        case 417: return "expectation_failed"
        case 431: return "headers_too_large"
        case 405: return "method_not_allowed"
        case 501: return "not_implemented"
        case 505: return "http_version_not_supported"
        default: return "malformed_request"
        }
    }
}
