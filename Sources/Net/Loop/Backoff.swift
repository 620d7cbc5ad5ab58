/// Exponential reconnect backoff: after each failure the wait doubles from `initial` up to
/// `maximum`; a success starts over. What every client of a remote server uses (PostgreSQL
/// pools, Redis connections, upstreams), so a dead dependency is asked at a bounded rate.
public struct Backoff: Sendable {
    public let initialMilliseconds: UInt64
    public let maximumMilliseconds: UInt64
    /// The wait after the last failure; 0 before any.
    public private(set) var currentMilliseconds: UInt64 = 0
    /// Loop time before which no new attempt is made.
    public private(set) var nextAttemptAt: UInt64 = 0

    public init(initialMilliseconds: UInt64 = 100, maximumMilliseconds: UInt64 = 5000) {
        self.initialMilliseconds = initialMilliseconds
        self.maximumMilliseconds = maximumMilliseconds
    }

    /// A failure at `now`: the next attempt waits longer.
    public mutating func failed(now: UInt64) {
        currentMilliseconds = min(max(currentMilliseconds * 2, initialMilliseconds), maximumMilliseconds)
        nextAttemptAt = now + currentMilliseconds
    }

    /// A success: the next failure waits `initial` again.
    public mutating func succeeded() {
        currentMilliseconds = 0
        nextAttemptAt = 0
    }

    /// Whether an attempt may be made at `now`.
    public func allows(now: UInt64) -> Bool { now >= nextAttemptAt }
}
