import Synchronization

/// Counters of one loop's HTTP traffic. Only the owning loop writes them (`SingleWriterCounter`); `/metrics` reads every loop's and sums them.
public final class HTTPLoopStats: Sendable {
    public let connectionsOpen = SingleWriterCounter()
    public let connectionsAccepted = SingleWriterCounter()
    public let connectionsRejected = SingleWriterCounter()
    public let requests = SingleWriterCounter()
    public let bytesIn = SingleWriterCounter()
    public let bytesOut = SingleWriterCounter()
    public let protocolErrors = SingleWriterCounter()
    public let timeouts = SingleWriterCounter()
    public let tlsHandshakes = SingleWriterCounter()
    public let tlsResumed = SingleWriterCounter()
    public let tls12 = SingleWriterCounter()
    public let tls13 = SingleWriterCounter()
    /// Failed handshakes by reason, in `HTTPLoopStats.tlsFailureReasons` order.
    let tlsFailures: InlineArray<8, SingleWriterCounter> = InlineArray { _ in SingleWriterCounter() }

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

/// A counter that exactly one loop writes and anyone may read: the increment is a relaxed load
/// and store, not a locked read-modify-write, so the request path pays no atomic instruction.
/// Two writers would lose counts: give each loop its own and sum them when read.
public struct SingleWriterCounter: ~Copyable, Sendable {
    @usableFromInline let storage = Atomic<Int>(0)

    public init() {}

    /// Adds `delta`. Only the owning loop calls this.
    @inlinable @inline(__always)
    public func add(_ delta: Int) {
        storage.store(storage.load(ordering: .relaxed) &+ delta, ordering: .relaxed)
    }

    @inlinable @inline(__always)
    public var value: Int { storage.load(ordering: .relaxed) }
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
