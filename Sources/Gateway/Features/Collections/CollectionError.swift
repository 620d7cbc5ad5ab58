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

    var message: String {
        switch self {
        case .malformed(let m), .invalid(let m), .notFound(let m), .conflict(let m), .batchTooLarge(let m), .unavailable(let m), .internalError(let m): m
        }
    }
}
