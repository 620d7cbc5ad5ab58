/// Whether a target is worth calling, from how its recent calls went: a pure state machine.
///
///     closed(n) ──failure, n+1 = threshold──▶ open(until: now + cooldown)
///     open ──now ≥ until: one call admitted──▶ probing(since: now)
///     probing ──success──▶ closed(0)      probing ──failure──▶ open(until: now + cooldown)
///
/// A success anywhere resets the count. While open, calls skip the target at once instead of
/// each paying its connect or first-byte timeout; while probing, one call tests it and the
/// others still skip. A probe that never reports (its client went away) is replaced by another
/// after a further cooldown. Each loop keeps its own breakers: no lock on the call path, at
/// the price of one probe per loop.
struct CircuitBreaker {
    enum State: Equatable {
        case closed(consecutiveFailures: Int)
        case open(untilMs: UInt64)
        case probing(sinceMs: UInt64)
    }

    let threshold: Int
    let cooldownMs: UInt64
    private(set) var state = State.closed(consecutiveFailures: 0)

    init(threshold: Int, cooldownMs: UInt64) {
        self.threshold = max(1, threshold)
        self.cooldownMs = cooldownMs
    }

    /// Whether a call may go to the target now (admitting the probe moves to `probing`).
    mutating func admit(nowMs: UInt64) -> Bool {
        switch state {
        case .closed: return true
        case .open(let until):
            guard nowMs >= until else { return false }
            state = .probing(sinceMs: nowMs)
            return true
        case .probing(let since):
            guard nowMs >= since + cooldownMs else { return false }
            state = .probing(sinceMs: nowMs)
            return true
        }
    }

    mutating func recordSuccess() { state = .closed(consecutiveFailures: 0) }

    mutating func recordFailure(nowMs: UInt64) {
        switch state {
        case .closed(let n):
            state = n + 1 >= threshold ? .open(untilMs: nowMs + cooldownMs) : .closed(consecutiveFailures: n + 1)
        case .open, .probing:
            state = .open(untilMs: nowMs + cooldownMs)
        }
    }

    /// Milliseconds until a call could be admitted again (0 when one could be now).
    func waitMs(nowMs: UInt64) -> UInt64 {
        switch state {
        case .closed: return 0
        case .open(let until): return until > nowMs ? until - nowMs : 0
        case .probing(let since): return since + cooldownMs > nowMs ? since + cooldownMs - nowMs : 0
        }
    }
}
