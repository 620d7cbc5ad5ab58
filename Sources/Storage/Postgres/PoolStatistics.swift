import Net
import Synchronization

/// What one loop's pool reports to metrics: gauges it publishes (open, idle, waiting; once a
/// second and on connection events) and counters only it increments. Read by `/metrics` from
/// any thread; written only by the pool's loop.
public final class PoolStatistics: Sendable {
    /// "primary" or "replica".
    public let role: String
    public let loopIndex: Int
    let openGauge = Atomic<Int>(0)
    let idleGauge = Atomic<Int>(0)
    let waitingGauge = Atomic<Int>(0)
    let connectFailures = SingleWriterCounter()
    let acquireTimeouts = SingleWriterCounter()

    init(role: String, loopIndex: Int) {
        self.role = role
        self.loopIndex = loopIndex
    }

    func publish(open: Int, idle: Int, waiting: Int) {
        openGauge.store(open, ordering: .relaxed)
        idleGauge.store(idle, ordering: .relaxed)
        waitingGauge.store(waiting, ordering: .relaxed)
    }

    public var open: Int { openGauge.load(ordering: .relaxed) }
    public var idle: Int { idleGauge.load(ordering: .relaxed) }
    public var waiting: Int { waitingGauge.load(ordering: .relaxed) }
    public var connectFailuresTotal: Int { connectFailures.value }
    public var acquireTimeoutsTotal: Int { acquireTimeouts.value }
}
