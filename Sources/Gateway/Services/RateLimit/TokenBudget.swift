import Net

/// Tokens-per-minute limits for the AI routes, on the rate limiter's machinery: a request
/// reserves its estimate (prompt tokens + max_tokens) before it goes upstream and settles with
/// the usage the upstream reports. Parallel requests therefore cannot overrun the budget:
/// each one's worst case is counted before any of them is sent.
public struct TokenBudget: Sendable {
    public let limiter: RateLimiter

    public init(limiter: RateLimiter) {
        self.limiter = limiter
    }

    /// The policy of a budget of `tokensPerMinute`, a minute's worth of burst.
    public static func policy(tokensPerMinute: Int64) -> RateLimitPolicy {
        RateLimitPolicy(name: "tokens", ratePerSecond: Double(tokensPerMinute) / 60, burst: tokensPerMinute)
    }

    /// A reservation to settle once the upstream has answered (or failed).
    public struct Reservation: Sendable {
        public let key: String
        public let policy: RateLimitPolicy
        public let reserved: Int64
    }

    /// Reserves `estimate` tokens for `keyID`. `done` gets the reservation, or the decision
    /// that refused it (for Retry-After), or nil when the limiter is unavailable.
    public func reserve(keyID: String, tokensPerMinute: Int64, estimate: Int64, on loop: EventLoop,
                        _ done: @escaping (Result<Reservation, RateLimitRefusal>) -> Void) {
        let policy = TokenBudget.policy(tokensPerMinute: tokensPerMinute)
        let key = "tok:" + keyID
        let cost = min(max(1, estimate), policy.burst)
        limiter.check(key, policy, cost: cost, on: loop) { outcome in
            switch outcome {
            case .decided(let decision) where decision.allowed:
                done(.success(Reservation(key: key, policy: policy, reserved: cost)))
            case .decided(let decision): done(.failure(.limited(policy, decision)))
            case .unavailable: done(.failure(.unavailable))
            }
        }
    }

    /// Charges the difference between what was used and what was reserved.
    public func settle(_ reservation: Reservation, used: Int64, on loop: EventLoop) {
        limiter.adjust(reservation.key, reservation.policy, by: max(0, used) - reservation.reserved, on: loop)
    }
}

/// Why a limited request was refused.
public enum RateLimitRefusal: Error, Sendable {
    case limited(RateLimitPolicy, GCRA.Decision)
    case unavailable
}
