import DequeModule
import Net

/// The connections one loop holds to one server, and the units waiting for them.
///
/// Loop thread only: nothing in it is locked. Connections open on demand up to `maximum`
/// (and `minimum` are kept open); a failed connect backs off exponentially (`Backoff`: 100 ms
/// doubling to 5 s), and while the server is unreachable with no connection left, units fail at once
/// with `unavailable` instead of queueing behind a dead server.
final class PostgresPool {
    let loop: EventLoop
    let settings: PostgresConnectionSettings
    let minimum: Int
    let maximum: Int
    /// How long a unit may wait for a connection before it fails with `unavailable`.
    let acquireTimeoutMilliseconds: UInt64
    /// Idle connections older than this are closed and replaced (server-side memory growth,
    /// load balancer idle limits).
    let maximumLifetimeMilliseconds: UInt64 = 30 * 60 * 1000

    private var idle: [PostgresConnection] = []
    private var connecting = 0
    private var open = 0
    private var waiting = Deque<PostgresOperation>()
    private var backoff = Backoff()
    private var lastError: StoreError?
    private var reconnect: ScheduledTask?
    private var closing = false
    private var live: [ObjectIdentifier: PostgresConnection] = [:]

    /// Open, idle and waiting, for `/metrics`.
    let statistics: PoolStatistics

    init(loop: EventLoop, settings: PostgresConnectionSettings, minimum: Int, maximum: Int, role: String = "primary") {
        self.loop = loop
        statistics = PoolStatistics(role: role, loopIndex: loop.index)
        self.settings = settings
        self.minimum = minimum
        self.maximum = max(1, maximum)
        acquireTimeoutMilliseconds = UInt64(max(settings.connectTimeoutMilliseconds, 1000))
        loop.onTick { [weak self] in self?.sweep() }
        loop.onStop { [weak self] in self?.shutdown() }
        fillToMinimum()
    }

    var waitingCount: Int { waiting.count }

    func run(_ operation: PostgresOperation) {
        guard !closing else {
            operation.finish(.failure(.unavailable("the connection pool is closed")))
            return
        }
        if let connection = idle.popLast() {
            connection.start(operation)
            return
        }
        if open == 0 && connecting == 0 && !backoff.allows(now: loop.nowMilliseconds), let lastError {
            // The server was unreachable a moment ago and nothing is open: say so now.
            operation.finish(.failure(lastError))
            return
        }
        waiting.append(operation)
        openIfNeeded()
    }

    private func openIfNeeded() {
        guard !closing, open + connecting < maximum, connecting < waitingCount || open + connecting < minimum else { return }
        let now = loop.nowMilliseconds
        guard backoff.allows(now: now) else {
            if reconnect == nil {
                reconnect = loop.schedule(afterMilliseconds: backoff.nextAttemptAt - now) { [weak self] in
                    self?.reconnect = nil
                    self?.openIfNeeded()
                }
            }
            return
        }
        openConnection()
    }

    private func fillToMinimum() {
        while !closing && open + connecting < minimum && backoff.allows(now: loop.nowMilliseconds) {
            openConnection()
        }
    }

    private func openConnection() {
        connecting += 1
        let connection = PostgresConnection(pool: self, loop: loop)
        live[ObjectIdentifier(connection)] = connection
        connection.connect(settings)
    }

    // MARK: Connection events

    func connectionReady(_ connection: PostgresConnection) {
        connecting -= 1
        open += 1
        backoff.succeeded()
        lastError = nil
        connectionIdle(connection)
    }

    func connectionIdle(_ connection: PostgresConnection) {
        if closing {
            connection.close()
            return
        }
        if let next = dequeue() {
            connection.start(next)
            return
        }
        idle.append(connection)
    }

    func connectionClosed(_ connection: PostgresConnection, wasConnecting: Bool, error: StoreError,
                          operation: PostgresOperation?, operationMayHaveRun: Bool) {
        live[ObjectIdentifier(connection)] = nil
        if wasConnecting {
            connecting -= 1
            lastError = error
            backoff.failed(now: loop.nowMilliseconds)
            statistics.connectFailures.add(1)
            if open == 0 && connecting == 0 {
                // Nobody can serve the queue until the server is back.
                while let waiter = dequeue() { waiter.finish(.failure(error)) }
            }
        } else {
            open -= 1
            idle.removeAll { $0 === connection }
        }
        if let operation {
            // A read, or a unit that never reached the server, is safe to try once more.
            if (operation.readOnly || !operationMayHaveRun) && operation.attempts < 2 && !closing {
                waiting.prepend(operation)
            } else {
                operation.finish(.failure(error))
            }
        }
        if !closing {
            openIfNeeded()
            if waitingCount == 0 { fillToMinimum() }
        }
    }

    private func dequeue() -> PostgresOperation? { waiting.popFirst() }

    // MARK: Housekeeping

    /// Once a second: fail units that waited too long, retire old idle connections, keep the
    /// minimum open.
    private func sweep() {
        let now = loop.nowMilliseconds
        while let oldest = waiting.first, now - oldest.enqueuedAt > acquireTimeoutMilliseconds {
            let expired = dequeue()!
            statistics.acquireTimeouts.add(1)
            expired.finish(.failure(lastError ?? .unavailable("no PostgreSQL connection within \(acquireTimeoutMilliseconds) ms")))
        }
        for connection in idle where now - connection.openedAt > maximumLifetimeMilliseconds {
            connection.close()
        }
        for connection in live.values { connection.checkDeadline(now: now) }
        fillToMinimum()
        statistics.publish(open: open, idle: idle.count, waiting: waitingCount)
    }

    func shutdown() {
        guard !closing else { return }
        closing = true
        reconnect?.cancel()
        while let waiter = dequeue() { waiter.finish(.failure(.unavailable("the connection pool is closed"))) }
        for connection in live.values { connection.close() }
        idle.removeAll()
    }
}
