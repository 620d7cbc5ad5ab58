/// The generic cell rate algorithm: one number per key (the theoretical arrival time, TAT)
/// decides whether a request fits `rate` per second with bursts of up to `burst`.
///
/// A request of cost n at time `now` is allowed when max(TAT, now) + n·T − now ≤ B·T, where T is
/// the emission interval (1/rate) and B the burst; the TAT then advances by n·T. Over any
/// window W at most B + W/T requests pass — exact, with no window edges and no background drip.
/// All times are in microseconds.
public struct GCRA: Sendable, Equatable {
    /// Microseconds per request.
    public let interval: Int64
    /// The burst capacity B.
    public let burst: Int64
    /// B·T, the furthest the TAT may run ahead of now.
    public let capacity: Int64

    /// Limits that keep every sum and product below overflow whatever a key or a config says:
    /// at most one request per ~11.6 days, bursts of at most 10^12, and B·T at most 2^60 µs
    /// (36,000 years) — beyond those the figures mean nothing anyway.
    public static let maximumInterval: Int64 = 1_000_000_000_000
    public static let maximumBurst: Int64 = 1_000_000_000_000
    static let maximumCapacity: Int64 = 1 << 60

    public init(ratePerSecond: Double, burst: Int64) {
        let raw = (1_000_000 / ratePerSecond).rounded()
        interval = raw.isNaN || raw >= Double(GCRA.maximumInterval) ? GCRA.maximumInterval : max(1, Int64(raw))
        self.burst = min(max(1, burst), GCRA.maximumBurst)
        let (product, overflow) = self.burst.multipliedReportingOverflow(by: interval)
        capacity = overflow ? GCRA.maximumCapacity : min(product, GCRA.maximumCapacity)
    }

    public struct Decision: Sendable, Equatable {
        public var allowed: Bool
        /// Requests that would still pass now.
        public var remaining: Int64
        /// When denied: microseconds until this request would pass.
        public var retryAfter: Int64
        /// Microseconds until one more unit of quota is available (0 when the bucket is full).
        public var nextUnitAfter: Int64
        /// The TAT to store (unchanged when denied).
        public var tat: Int64
    }

    public func decide(tat stored: Int64?, now: Int64, cost: Int64 = 1) -> Decision {
        let tat = max(stored ?? now, now)
        let newTAT = tat + span(max(cost, 0))
        if newTAT - now <= capacity {
            let remaining = (capacity - (newTAT - now)) / interval
            return Decision(allowed: true, remaining: remaining, retryAfter: 0,
                            nextUnitAfter: nextUnit(newTAT, now, remaining), tat: newTAT)
        }
        let remaining = max(0, (capacity - (tat - now)) / interval)
        return Decision(allowed: false, remaining: remaining, retryAfter: newTAT - capacity - now,
                        nextUnitAfter: nextUnit(tat, now, remaining), tat: tat)
    }

    /// n·T, saturated well inside Int64 (a span beyond the capacity is refused anyway).
    @inline(__always)
    public func span(_ units: Int64) -> Int64 {
        let bound = GCRA.maximumCapacity << 1
        let (product, overflow) = units.multipliedReportingOverflow(by: interval)
        if overflow { return units < 0 ? -bound : bound }
        return min(max(product, -bound), bound)
    }

    @inline(__always)
    private func nextUnit(_ tat: Int64, _ now: Int64, _ remaining: Int64) -> Int64 {
        guard remaining < burst else { return 0 }
        return max(0, (tat - now) - span(burst - remaining - 1))
    }
}
