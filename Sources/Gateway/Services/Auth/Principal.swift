import Storage

/// Who is calling: the key behind a request, with its limits resolved against the defaults.
/// A class: built once per key-cache fill and shared by every request of that key (one
/// retain instead of one per field).
public final class Principal: Sendable {
    public let keyID: String
    public let tenantID: String
    public let role: Role
    public let policy: RateLimitPolicy
    public let tokensPerMinute: Int64?
    /// `RateLimit-Policy`'s value, formatted once.
    public let policyHeader: String

    public init(keyID: String, tenantID: String, role: Role, policy: RateLimitPolicy, tokensPerMinute: Int64?) {
        self.keyID = keyID
        self.tenantID = tenantID
        self.role = role
        self.policy = policy
        self.tokensPerMinute = tokensPerMinute
        policyHeader = policy.policyHeader
    }

    /// Whether this key's role covers `required` (admin ⊃ writer ⊃ reader).
    public func allows(_ required: Role) -> Bool {
        rank(role) >= rank(required)
    }

    private func rank(_ role: Role) -> Int {
        switch role {
        case .reader: return 0
        case .writer: return 1
        case .admin: return 2
        }
    }
}
