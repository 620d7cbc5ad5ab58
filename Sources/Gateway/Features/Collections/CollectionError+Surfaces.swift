import Net
import Storage

/// Where a `CollectionError` comes from (the Store) and how the native routes answer it; the
/// Chroma routes answer it with `ChromaError(_:)`.
extension CollectionError {
    init(_ error: StoreError) {
        switch error {
        case .notFound(let m): self = .notFound(m)
        case .conflict(let m): self = .conflict(m)
        case .invalid(let m): self = .invalid(m)
        case .unavailable(let m), .timeout(let m): self = .unavailable(m)
        case .internalError(let m): self = .internalError(m)
        }
    }

    /// Our shape, for the native routes.
    var gatewayError: GatewayError {
        switch self {
        case .malformed(let m): GatewayError(.badRequest, "invalid_json", m)
        case .invalid(let m): GatewayError(.unprocessableContent, "invalid_request", m)
        case .notFound(let m): GatewayError(.notFound, "not_found", m)
        case .conflict(let m): GatewayError(.conflict, "conflict", m)
        case .batchTooLarge(let m): GatewayError(.payloadTooLarge, "batch_too_large", m)
        case .unavailable(let m): GatewayError(.serviceUnavailable, "unavailable", m, headers: [("Retry-After", "1")])
        case .internalError: GatewayError(.internalServerError, "internal_error", "the collection could not be served")
        }
    }
}
