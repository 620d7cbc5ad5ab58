import Net

/// The connections one loop holds to one server, and the units waiting for them.
///
/// Loop thread only: nothing in it is locked. Connections open on demand up to `maximum`
/// (and `minimum` are kept open); a failed connect backs off exponentially (100 ms doubling
/// to 5 s), and while the server is unreachable with no connection left, units fail at once
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
    private var waiting: [PostgresOperation] = []
    private var waitingHead = 0
    private var backoffMilliseconds: UInt64 = 0
    private var nextAttemptAt: UInt64 = 0
    private var lastError: StoreError?
    private var reconnect: ScheduledTask?
    private var closing = false
    private var live: [ObjectIdentifier: PostgresConnection] = [:]

    init(loop: EventLoop, settings: PostgresConnectionSettings, minimum: Int, maximum: Int) {
        self.loop = loop
        self.settings = settings
        self.minimum = minimum
        self.maximum = max(1, maximum)
        acquireTimeoutMilliseconds = UInt64(max(settings.connectTimeoutMilliseconds, 1000))
        loop.onTick { [weak self] in self?.sweep() }
        loop.onStop { [weak self] in self?.shutdown() }
        fillToMinimum()
    }

    var waitingCount: Int { waiting.count - waitingHead }

    func run(_ operation: PostgresOperation) {
        guard !closing else {
            operation.finish(.failure(.unavailable("the connection pool is closed")))
            return
        }
        if let connection = idle.popLast() {
            connection.start(operation)
            return
        }
        if open == 0 && connecting == 0 && loop.nowMilliseconds < nextAttemptAt, let lastError {
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
        guard now >= nextAttemptAt else {
            if reconnect == nil {
                reconnect = loop.schedule(afterMilliseconds: nextAttemptAt - now) { [weak self] in
                    self?.reconnect = nil
                    self?.openIfNeeded()
                }
            }
            return
        }
        openConnection()
    }

    private func fillToMinimum() {
        while !closing && open + connecting < minimum && loop.nowMilliseconds >= nextAttemptAt {
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
        backoffMilliseconds = 0
        nextAttemptAt = 0
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
            backoffMilliseconds = min(max(backoffMilliseconds * 2, 100), 5000)
            nextAttemptAt = loop.nowMilliseconds + backoffMilliseconds
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
                waiting.insert(operation, at: waitingHead)
            } else {
                operation.finish(.failure(error))
            }
        }
        if !closing {
            openIfNeeded()
            if waitingCount == 0 { fillToMinimum() }
        }
    }

    private func dequeue() -> PostgresOperation? {
        guard waitingHead < waiting.count else { return nil }
        let next = waiting[waitingHead]
        waitingHead += 1
        if waitingHead == waiting.count {
            waiting.removeAll(keepingCapacity: true)
            waitingHead = 0
        } else if waitingHead > 1024 && waitingHead * 2 > waiting.count {
            waiting.removeFirst(waitingHead)
            waitingHead = 0
        }
        return next
    }

    // MARK: Housekeeping

    /// Once a second: fail units that waited too long, retire old idle connections, keep the
    /// minimum open.
    private func sweep() {
        let now = loop.nowMilliseconds
        while waitingHead < waiting.count, now - waiting[waitingHead].enqueuedAt > acquireTimeoutMilliseconds {
            let expired = dequeue()!
            expired.finish(.failure(lastError ?? .unavailable("no PostgreSQL connection within \(acquireTimeoutMilliseconds) ms")))
        }
        for connection in idle where now - connection.openedAt > maximumLifetimeMilliseconds {
            connection.close()
        }
        for connection in live.values { connection.checkDeadline(now: now) }
        fillToMinimum()
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
