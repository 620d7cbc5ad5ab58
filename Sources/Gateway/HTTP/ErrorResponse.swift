import Net
import Storage

/// An error that knows its own answer: status, extra headers and body. Every error a route or
/// stage sends goes through this one protocol, so each API surface (ours on `/v1`, Chroma's on
/// `/api/v2`, OpenAI's on the AI routes) declares its shape once, in its own type.
public protocol ErrorResponse: Error {
    var status: HTTPStatus { get }
    /// Headers the error itself needs (`Retry-After`, `WWW-Authenticate`, `Allow`).
    var headers: [(String, String)] { get }
    var contentType: StaticString { get }
    /// The body bytes, newline-terminated JSON for the JSON surfaces.
    func body() -> [UInt8]
}

extension ErrorResponse {
    public var contentType: StaticString { "application/json" }
}

extension GatewayError: ErrorResponse {
    public func body() -> [UInt8] { GatewayError.body(type: type, message: message) }
}

extension GatewayError {
    /// Storage's errors as HTTP answers: the one place a `StoreError` gets a status
    /// (Storage knows nothing of HTTP).
    public init(_ error: StoreError) {
        switch error {
        case .notFound(let m): self.init(.notFound, "not_found", m)
        case .conflict(let m): self.init(.conflict, "conflict", m)
        case .invalid(let m): self.init(.unprocessableContent, "invalid_request", m)
        case .unavailable(let m): self.init(.serviceUnavailable, "unavailable", m, headers: [("Retry-After", "1")])
        case .timeout(let m): self.init(.gatewayTimeout, "timeout", m)
        case .internalError: self.init(.internalServerError, "internal_error", "the database refused the request")
        }
    }

    /// 503 when the shared limiter cannot decide and the failure mode is closed.
    static let limiterUnavailable = GatewayError(.serviceUnavailable, "unavailable", "the shared rate limiter is unavailable",
                                                 headers: [("Retry-After", "1")])

    /// A 429 with `Retry-After` (whole seconds, rounded up, at least 1) after `headers`.
    static func rateLimited(_ message: String, retryAfter microseconds: Int64, headers: [(String, String)] = []) -> GatewayError {
        GatewayError(.tooManyRequests, "rate_limited", message, headers: headers + [("Retry-After", String(retrySeconds(microseconds)))])
    }

    static func retrySeconds(_ microseconds: Int64) -> Int64 { max(1, (microseconds + 999_999) / 1_000_000) }
}
