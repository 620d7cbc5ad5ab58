import Logging
import Net
import Storage
import Synchronization

/// The gateway's limiter: GCRA decisions from the local store or from Redis, behind one call.
///
/// With Redis, a failure (down, timeout) either falls back to the local limiter with the same
/// policy (`open`, the default: each replica then enforces the limit alone) or answers 503
/// (`closed`). The switch is logged once per outage and counted; when Redis answers again,
/// shared limits resume by themselves.
public final class RateLimiter: Sendable {
    public enum Store: String, Sendable { case local, redis }
    public enum FailureMode: String, Sendable { case open, closed }

    public enum Outcome: Sendable, Equatable {
        case decided(GCRA.Decision)
        /// Redis is down and the failure mode is closed.
        case unavailable
    }

    public let local = LocalRateLimiter()
    public let redis: RedisRateLimiter?
    public let failureMode: FailureMode
    let logger: Logger
    let degraded = Atomic<Bool>(false)
    /// Decisions made locally because Redis failed.
    public let fallbacks = Atomic<Int>(0)
    /// Requests refused with 503 because Redis failed in closed mode.
    public let refusals = Atomic<Int>(0)

    public init(redis: RedisSettings?, failureMode: FailureMode, logger: Logger) {
        self.redis = redis.map { RedisRateLimiter(settings: $0) }
        self.failureMode = failureMode
        self.logger = logger
    }

    public var isDegraded: Bool { degraded.load(ordering: .relaxed) }

    /// The limiter's series: Redis fallbacks, refusals, and whether it is degraded.
    public func writeMetrics(into text: inout PrometheusText) {
        text.single("aiwriter_ratelimit_redis_fallbacks_total", .counter, "Rate-limit decisions made locally because Redis failed.",
                    String(fallbacks.load(ordering: .relaxed)))
        text.single("aiwriter_ratelimit_redis_refusals_total", .counter, "Requests answered 503 because Redis failed (closed mode).",
                    String(refusals.load(ordering: .relaxed)))
        text.single("aiwriter_ratelimit_redis_degraded", .gauge, "1 while Redis rate limiting is failing.", isDegraded ? "1" : "0")
    }

    /// Decides a request of `cost` against `key`; `done` runs on `loop` (at once for local).
    @inlinable
    public func check(_ key: String, _ policy: RateLimitPolicy, cost: Int64 = 1, on loop: EventLoop,
                      _ done: @escaping (Outcome) -> Void) {
        guard let redis else {
            done(.decided(local.decide(key, policy.gcra, cost: cost)))
            return
        }
        checkShared(redis, key, policy, cost: cost, on: loop, done)
    }

    @usableFromInline
    func checkShared(_ redis: RedisRateLimiter, _ key: String, _ policy: RateLimitPolicy, cost: Int64, on loop: EventLoop,
                     _ done: @escaping (Outcome) -> Void) {
        let ask: (@escaping (Result<GCRA.Decision, RedisError>) -> Void) -> Void = { done in
            if cost == 1 { redis.decideUnit(key, policy.gcra, on: loop, done) }
            else { redis.decide(key, policy.gcra, cost: cost, on: loop, done) }
        }
        ask { [self] result in
            switch result {
            case .success(let decision):
                if degraded.exchange(false, ordering: .relaxed) {
                    logger.notice("redis rate limiting resumed")
                }
                done(.decided(decision))
            case .failure(let error):
                if !degraded.exchange(true, ordering: .relaxed) {
                    logger.error("redis rate limiting failed; \(failureMode == .open ? "falling back to local limits" : "refusing limited requests")",
                                 metadata: ["error": .string(error.description)])
                }
                switch failureMode {
                case .open:
                    fallbacks.add(1, ordering: .relaxed)
                    done(.decided(local.decide(key, policy.gcra, cost: cost)))
                case .closed:
                    refusals.add(1, ordering: .relaxed)
                    done(.unavailable)
                }
            }
        }
    }

    /// Moves a key's state by `delta` units (negative returns quota): settles token reservations.
    public func adjust(_ key: String, _ policy: RateLimitPolicy, by delta: Int64, on loop: EventLoop) {
        // A reported usage can be anything an upstream says: at most a burst either way.
        let delta = min(max(delta, -policy.gcra.burst), policy.gcra.burst)
        guard delta != 0 else { return }
        guard let redis else { return local.adjust(key, policy.gcra, by: delta) }
        redis.adjust(key, policy.gcra, by: delta, on: loop) { [self] result in
            if case .failure = result { local.adjust(key, policy.gcra, by: delta) }
        }
    }
}
