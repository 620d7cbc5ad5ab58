import Net
import Synchronization

/// GCRA state for every key in this process, shared by all loops without a global lock: keys
/// hash onto 64 stripes, each its own small lock. A key whose TAT has passed is the same as
/// an absent key, so sweeps drop those and memory stays bounded under key churn.
public final class LocalRateLimiter: Sendable {
    final class Stripe: Sendable {
        let table = Mutex<[Slot: Int64]>([:])
    }

    /// A key with its string hash computed once: it picks the stripe and keys the stripe's
    /// table without hashing the string a second time.
    struct Slot: Hashable {
        let key: String
        let hash: Int

        @inline(__always)
        init(_ key: String) {
            self.key = key
            hash = key.hashValue
        }

        static func == (a: Slot, b: Slot) -> Bool { a.hash == b.hash && a.key == b.key }
        func hash(into hasher: inout Hasher) { hasher.combine(hash) }
    }

    static let stripeCount = 64
    let stripes: [Stripe] = (0..<LocalRateLimiter.stripeCount).map { _ in Stripe() }
    let sweepCursor = Atomic<Int>(0)

    public init() {}

    /// Microseconds on the monotonic clock.
    @inlinable public static var now: Int64 { Int64(EventLoop.monotonicNanoseconds / 1000) }

    @inline(__always)
    func stripe(_ slot: Slot) -> Stripe {
        stripes[Int(UInt(bitPattern: slot.hash) % UInt(LocalRateLimiter.stripeCount))]
    }

    /// Decides and records a request of `cost` against `key`.
    public func decide(_ key: String, _ gcra: GCRA, cost: Int64 = 1, now: Int64 = LocalRateLimiter.now) -> GCRA.Decision {
        let slot = Slot(key)
        return stripe(slot).table.withLock { table in
            let decision = gcra.decide(tat: table[slot], now: now, cost: cost)
            if decision.allowed { table[slot] = decision.tat }
            return decision
        }
    }

    /// Whether a request would pass now, without recording one.
    public func wouldAllow(_ key: String, _ gcra: GCRA, now: Int64 = LocalRateLimiter.now) -> Bool {
        let slot = Slot(key)
        return stripe(slot).table.withLock { table in gcra.decide(tat: table[slot], now: now).allowed }
    }

    /// Moves `key`'s TAT by `delta` units (negative gives quota back): token reservations
    /// settled against what the upstream reported.
    public func adjust(_ key: String, _ gcra: GCRA, by delta: Int64, now: Int64 = LocalRateLimiter.now) {
        let slot = Slot(key)
        stripe(slot).table.withLock { table in
            // A reported usage can be anything an upstream says: at most a burst either way.
            let tat = max(table[slot] ?? now, now) + gcra.span(min(max(delta, -gcra.burst), gcra.burst))
            if tat > now { table[slot] = tat } else { table[slot] = nil }
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
