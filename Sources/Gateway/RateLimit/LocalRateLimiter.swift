import Net
import Synchronization

/// GCRA state for every key in this process, shared by all loops without a global lock: keys
/// hash onto 64 stripes, each its own small lock. A key whose TAT has passed is the same as
/// an absent key, so sweeps drop those and memory stays bounded under key churn.
public final class LocalRateLimiter: Sendable {
    final class Stripe: Sendable {
        let table = Mutex<[String: Int64]>([:])
    }

    static let stripeCount = 64
    let stripes: [Stripe] = (0..<LocalRateLimiter.stripeCount).map { _ in Stripe() }
    let sweepCursor = Atomic<Int>(0)

    public init() {}

    /// Microseconds on the monotonic clock.
    @inlinable public static var now: Int64 { Int64(EventLoop.monotonicNanoseconds / 1000) }

    @inline(__always)
    func stripe(_ key: String) -> Stripe {
        var hasher = Hasher()
        hasher.combine(key)
        return stripes[Int(UInt(bitPattern: hasher.finalize()) % UInt(LocalRateLimiter.stripeCount))]
    }

    /// Decides and records a request of `cost` against `key`.
    public func decide(_ key: String, _ gcra: GCRA, cost: Int64 = 1, now: Int64 = LocalRateLimiter.now) -> GCRA.Decision {
        stripe(key).table.withLock { table in
            let decision = gcra.decide(tat: table[key], now: now, cost: cost)
            if decision.allowed { table[key] = decision.tat }
            return decision
        }
    }

    /// Whether a request would pass now, without recording one.
    public func wouldAllow(_ key: String, _ gcra: GCRA, now: Int64 = LocalRateLimiter.now) -> Bool {
        stripe(key).table.withLock { table in gcra.decide(tat: table[key], now: now).allowed }
    }

    /// Moves `key`'s TAT by `delta` units (negative gives quota back): token reservations
    /// settled against what the upstream reported.
    public func adjust(_ key: String, _ gcra: GCRA, by delta: Int64, now: Int64 = LocalRateLimiter.now) {
        stripe(key).table.withLock { table in
            let tat = max(table[key] ?? now, now) + delta * gcra.interval
            if tat > now { table[key] = tat } else { table[key] = nil }
        }
    }

    /// Drops expired keys from a few stripes; call often (each loop's tick).
    public func sweep(stripes count: Int = 8, now: Int64 = LocalRateLimiter.now) {
        for _ in 0..<count {
            let index = sweepCursor.add(1, ordering: .relaxed).oldValue % LocalRateLimiter.stripeCount
            stripes[index].table.withLock { table in
                // Rebuild only when something expired (this runs every second on every loop).
                guard table.values.contains(where: { $0 <= now }) else { return }
                table = table.filter { $0.value > now }
            }
        }
    }

    /// Keys held (for metrics and tests).
    public var keyCount: Int { stripes.reduce(0) { $0 + $1.table.withLock { $0.count } } }
}
