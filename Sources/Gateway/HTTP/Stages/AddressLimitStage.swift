import Net

/// Requests per client address before any key is looked at (`ip-rate`, `ip-burst`), in the
/// limiter's store (shared by replicas when that is Redis). Answers 429 itself.
struct AddressLimitStage: RequestStage {
    let limiter: RateLimiter
    let policy: RateLimitPolicy

    func handle(_ context: consuming RequestContext, _ next: RequestStageNext) {
        let key = "ip:" + context.clientIP
        if limiter.redis == nil {
            return admit(context, .decided(limiter.local.decide(key, policy.gcra)), next)
        }
        let waiting = copy context
        limiter.check(key, policy, on: waiting.loop) { outcome in admit(waiting, outcome, next) }
    }

    private func admit(_ context: consuming RequestContext, _ outcome: RateLimiter.Outcome, _ next: RequestStageNext) {
        switch outcome {
        case .unavailable:
            context.send(GatewayError.limiterUnavailable)
        case .decided(let decision) where !decision.allowed:
            let seconds = GatewayError.retrySeconds(decision.retryAfter)
            context.send(GatewayError.rateLimited("too many requests from this address (\(policy.policyHeader)); retry in \(seconds) s",
                                                  retryAfter: decision.retryAfter,
                                                  headers: [("RateLimit-Policy", policy.policyHeader), ("RateLimit", policy.stateHeader(decision))]))
        case .decided:
            next(context)
        }
    }
}
