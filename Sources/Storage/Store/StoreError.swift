/// Why a storage operation failed, typed so the HTTP layer maps it to a status without
/// reading messages: not found 404, conflict 409, invalid 422, unavailable 503, timeout 504.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The object does not exist (or belongs to another tenant: the two are not told apart).
    case notFound(String)
    /// A precondition on current state failed: an expected version, a unique name.
    case conflict(String)
    /// The input was refused before anything was stored.
    case invalid(String)
    /// The database could not be reached or dropped the connection.
    case unavailable(String)
    /// The database did not answer within the statement timeout.
    case timeout(String)
    /// The database refused a statement for a reason that is a bug or a broken schema.
    case internalError(String)

    public var description: String {
        switch self {
        case .notFound(let m): return "not found: \(m)"
        case .conflict(let m): return "conflict: \(m)"
        case .invalid(let m): return "invalid: \(m)"
        case .unavailable(let m): return "unavailable: \(m)"
        case .timeout(let m): return "timeout: \(m)"
        case .internalError(let m): return "internal error: \(m)"
        }
    }

    public var message: String {
        switch self {
        case .notFound(let m), .conflict(let m), .invalid(let m), .unavailable(let m),
             .timeout(let m), .internalError(let m): return m
        }
    }

    /// The HTTP status this error answers with.
    public var httpStatus: Int {
        switch self {
        case .notFound: return 404
        case .conflict: return 409
        case .invalid: return 422
        case .unavailable: return 503
        case .timeout: return 504
        case .internalError: return 500
        }
    }
}
