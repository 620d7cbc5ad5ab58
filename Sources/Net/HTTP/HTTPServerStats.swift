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
    public let tlsHandshakes = Atomic<Int>(0)
    public let tlsResumed = Atomic<Int>(0)
    public let tls12 = Atomic<Int>(0)
    public let tls13 = Atomic<Int>(0)
    /// Failed handshakes by reason, in `HTTPLoopStats.tlsFailureReasons` order.
    let tlsFailures: InlineArray<8, Atomic<Int>> = InlineArray { _ in Atomic(0) }

    /// Labels of `tls_handshake_failures_total`.
    public static let tlsFailureReasons = ["not_tls", "protocol_version", "no_shared_cipher", "no_application_protocol", "eof", "timeout", "other"]

    init() {}

    func tlsFailure(_ reason: String) {
        let i = HTTPLoopStats.tlsFailureReasons.firstIndex(of: reason) ?? HTTPLoopStats.tlsFailureReasons.count - 1
        tlsFailures[i].add(1)
    }

    func tlsEstablished(resumed: Bool, version: Int32) {
        tlsHandshakes.add(1)
        if resumed { tlsResumed.add(1) }
        if version == 0x0304 { tls13.add(1) } else if version == 0x0303 { tls12.add(1) }
    }
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
    public var tlsHandshakes = 0
    public var tlsResumed = 0
    public var tls12 = 0
    public var tls13 = 0
    /// Failed handshakes by reason (`HTTPLoopStats.tlsFailureReasons`).
    public var tlsFailures: [String: Int] = [:]
}
