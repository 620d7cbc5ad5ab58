import Synchronization

/// Counters of one loop's HTTP traffic. Only the owning loop writes them (plain load + store,
/// no locked instruction); `/metrics` reads every loop's and sums them.
public final class HTTPLoopStats: Sendable {
    public let connectionsOpen = Atomic<Int>(0)
    public let connectionsAccepted = Atomic<Int>(0)
    public let connectionsRejected = Atomic<Int>(0)
    public let requests = Atomic<Int>(0)
    public let bytesIn = Atomic<Int>(0)
    public let bytesOut = Atomic<Int>(0)
    public let protocolErrors = Atomic<Int>(0)
    public let timeouts = Atomic<Int>(0)

    init() {}
}

extension Atomic where Value == Int {
    /// Single-writer increment: a relaxed load and store, not a locked read-modify-write.
    @inlinable @inline(__always)
    public func add(_ delta: Int) {
        store(load(ordering: .relaxed) &+ delta, ordering: .relaxed)
    }

    @inlinable @inline(__always)
    public var value: Int { load(ordering: .relaxed) }
}

/// A sum over every loop, taken at scrape time.
public struct HTTPServerStatsSnapshot: Sendable {
    public var connectionsOpen = 0
    public var connectionsAccepted = 0
    public var connectionsRejected = 0
    public var requests = 0
    public var bytesIn = 0
    public var bytesOut = 0
    public var protocolErrors = 0
    public var timeouts = 0
}
