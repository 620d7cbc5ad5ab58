import Net

/// The key's own rate limit (GCRA, local or Redis): answers 429 / 503 itself, or records the
/// limit state so every answer of the route carries `RateLimit-Policy` and `RateLimit`.
struct KeyLimitStage: RequestStage {
    let limiter: RateLimiter

    func handle(_ context: consuming RequestContext, _ next: RequestStageNext) {
        let principal = context.caller
        if limiter.redis == nil {
            // The local limiter answers at once: no closure, no hop.
            return finish(context, principal, .decided(limiter.local.decide(principal.keyID, principal.policy.gcra)), next)
        }
        let waiting = copy context
        limiter.check(principal.keyID, principal.policy, on: waiting.loop) { outcome in
            finish(waiting, principal, outcome, next)
        }
    }

    @inline(__always)
    private func finish(_ context: consuming RequestContext, _ principal: Principal, _ outcome: RateLimiter.Outcome, _ next: RequestStageNext) {
        switch outcome {
        case .unavailable:
            context.send(GatewayError.limiterUnavailable)
        case .decided(let decision):
            context.rateLimit = RateLimitHeaders(policy: principal.policyHeader, state: principal.policy.stateHeader(decision))
            guard decision.allowed else {
                let seconds = GatewayError.retrySeconds(decision.retryAfter)
                context.send(GatewayError.rateLimited("rate limit of \(principal.policyHeader) exceeded; retry in \(seconds) s",
                                                      retryAfter: decision.retryAfter))
                return
            }
            next(context)
        }
    }
}
