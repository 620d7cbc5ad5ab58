import Net
import Storage

/// What a collection operation can fail with, independent of the API surface: the native
/// routes answer it in our shape (`GatewayError`), the Chroma routes in Chroma's
/// (`ChromaError`). Storage errors arrive here through one mapping.
enum CollectionError: Error, Sendable, Equatable {
    /// The body is not JSON (or not an object at the top).
    case malformed(String)
    /// Bad input: a field, a vector, a filter (the message names which).
    case invalid(String)
    case notFound(String)
    /// A name that exists (create without get-or-create, rename onto another collection).
    case conflict(String)
    /// More records in one batch than the configured `max_batch_size`.
    case batchTooLarge(String)
    /// The database (or another dependency) is down or timed out.
    case unavailable(String)
    case internalError(String)

    init(_ error: StoreError) {
        switch error {
        case .notFound(let m): self = .notFound(m)
        case .conflict(let m): self = .conflict(m)
        case .invalid(let m): self = .invalid(m)
        case .unavailable(let m), .timeout(let m): self = .unavailable(m)
        case .internalError(let m): self = .internalError(m)
        }
    }

    var message: String {
        switch self {
        case .malformed(let m), .invalid(let m), .notFound(let m), .conflict(let m), .batchTooLarge(let m), .unavailable(let m), .internalError(let m): m
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
