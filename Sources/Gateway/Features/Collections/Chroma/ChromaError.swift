import Net

/// Chroma's error shape, `{"error": "<Name>", "message": "<text>"}`: the Python client raises
/// `chromadb.errors.error_types[Name]`, so the name decides the exception a user catches.
/// Statuses follow Chroma's server (`rust/error/src/lib.rs`): invalid argument 400, not found
/// 404, already exists 409, unauthenticated 401, permission denied 403, rate limited 429.
struct ChromaError: ErrorResponse, Sendable {
    let status: HTTPStatus
    let name: String
    let message: String
    let headers: [(String, String)]

    init(_ status: HTTPStatus, _ name: String, _ message: String, headers: [(String, String)] = []) {
        self.status = status
        self.name = name
        self.message = message
        self.headers = headers
    }

    init(_ error: CollectionError) {
        switch error {
        case .malformed(let m), .invalid(let m): self.init(.badRequest, "InvalidArgumentError", m)
        case .notFound(let m): self.init(.notFound, "NotFoundError", m)
        // Chroma's server names only four codes; a duplicate name is 409 "ChromaError".
        case .conflict(let m): self.init(.conflict, "ChromaError", m)
        case .batchTooLarge(let m): self.init(.payloadTooLarge, "BatchSizeExceededError", m)
        case .unavailable(let m): self.init(.serviceUnavailable, "ChromaError", m, headers: [("Retry-After", "1")])
        case .internalError: self.init(.internalServerError, "InternalError", "the collection could not be served")
        }
    }

    /// The pipeline's errors (authentication, limits, routing, body limits) in Chroma's shape.
    init(_ error: GatewayError) {
        let name: String
        var status = error.status
        switch error.status.rawValue {
        case 400, 422:
            name = "InvalidArgumentError"
            status = .badRequest
        case 401: name = "AuthError"
        case 403: name = "AuthorizationError"
        case 404: name = "NotFoundError"
        case 413: name = "InvalidArgumentError"
        case 429: name = "RateLimitError"
        case 500: name = "InternalError"
        default: name = "ChromaError"
        }
        self.init(status, name, error.message, headers: error.headers)
    }

    func body() -> [UInt8] {
        var w = JSONWriter(capacity: 64 + message.utf8.count)
        w.raw("{\"error\":")
        w.string(name)
        w.raw(",\"message\":")
        w.string(message)
        w.raw("}\n")
        return w.bytes
    }
}
