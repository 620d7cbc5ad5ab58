import CUV
import Dispatch
import Histogram
import Net
#if canImport(Glibc)
import Glibc
#endif

/// One loop's share of a run: its connections, its part of the arrival schedule, and its own
/// histograms and counters (merged after the run, so recording takes no lock).
/// Loop thread only, until `finished` is signalled.
final class Worker: @unchecked Sendable {
    // @unchecked: everything is touched on `loop` only; the main thread reads the results after
    // `finished` has been signalled, which orders those reads after the loop's writes.
    enum ErrorKind { case connect, timeout, io, protocolError }

    struct Errors {
        var connect = 0, timeout = 0, io = 0, protocolErrors = 0
        mutating func add(_ kind: ErrorKind, _ n: Int) {
            switch kind {
            case .connect: connect += n
            case .timeout: timeout += n
            case .io: io += n
            case .protocolError: protocolErrors += n
            }
        }

        mutating func add(_ other: Errors) {
            connect += other.connect
            timeout += other.timeout
            io += other.io
            protocolErrors += other.protocolErrors
        }
    }

    static let readBufferSize = 64 * 1024
    let loop: EventLoop
    let plan: RunPlan
    let address: SocketAddress
    let connectionCount: Int
    /// This worker's share of the arrival rate (open loop), as a fraction of the plan's.
    let rateShare: Double
    let readBuffer = UnsafeMutablePointer<UInt8>.allocate(capacity: Worker.readBufferSize)
    var random: SplitMix64
    var sequence = 0

    var connections: [ClientConnection] = []
    var ready: [ClientConnection] = []
    var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
    var seconds: [SecondStats] = []
    var statuses: [Int: Int] = [:]
    var errors = Errors()
    var requests = 0
    var warmupRequests = 0
    /// Requests due but not yet sent because no connection was free (open loop).
    var backlog: [UInt64] = []
    var backlogHead = 0
    var issued = 0
    var startNanoseconds: UInt64 = 0
    var measureFromNanoseconds: UInt64 = 0
    var stopping = false
    var stopDeadline: UInt64 = 0
    var lastResponseNanoseconds: UInt64 = 0
    var ticker: UnsafeMutablePointer<uv_timer_t>?
    var dirty: [ClientConnection] = []
    /// Made once: arming the after-turn flush allocates nothing per turn.
    lazy var flushAfterTurn: () -> Void = { [unowned self] in flushDirty() }
    let finished = DispatchSemaphore(value: 0)
    var signalled = false

    /// One second of the measured window, by the time things happened (responses, errors and
    /// sends each in the second they occurred).
    struct SecondStats {
        var requests = 0
        /// Responses with status ≥ 400 plus failed attempts.
        var errors = 0
        var sent = 0
        var failures = Errors()
        /// (status, count), found by a linear scan: a run sees a handful of codes.
        var codes: [(status: Int, count: Int)] = []
        var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .two)

        mutating func count(status: Int, _ n: Int = 1) {
            if let i = codes.firstIndex(where: { $0.status == status }) { codes[i].count += n } else { codes.append((status, n)) }
        }

        mutating func add(_ other: SecondStats) {
            requests += other.requests
            errors += other.errors
            sent += other.sent
            failures.add(other.failures)
            for code in other.codes { count(status: code.status, code.count) }
            histogram.add(other.histogram)
        }
    }

    /// Per named request of the scenario (only kept when there are several names).
    var perRequest: [RequestStats]
    /// Open loop: how late each measured request left the schedule (µs), the generator's own lag.
    var scheduleLag = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .two)
    /// This loop thread's CPU time and the wall time over the same span (ns), for `GeneratorHealth`.
    var cpuNanoseconds: UInt64 = 0
    var wallNanoseconds: UInt64 = 0
    private var cpuAtStart: UInt64 = 0
    private var wallAtStart: UInt64 = 0

    /// Closed loop with a request count: this worker's share of it.
    let requestLimit: Int?
    var lastTimeoutCheck: UInt64 = 0
    var started = false
    /// Closed loop with connection stages: connections beyond this index get no new requests.
    lazy var activeConnections = connectionCount
    var scheduleFD: Int32 = -1
    var scheduleWatcher: FDWatcher?

    init(loop: EventLoop, plan: RunPlan, address: SocketAddress, connections: Int, rateShare: Double, requestLimit: Int?, seed: UInt64) {
        self.loop = loop
        self.requestLimit = requestLimit
        self.plan = plan
        self.address = address
        connectionCount = connections
        self.rateShare = rateShare
        random = SplitMix64(seed: seed)
        perRequest = plan.requestNames.count > 1 ? plan.requestNames.map { _ in RequestStats() } : []
    }

    deinit { readBuffer.deallocate() }

    static var now: UInt64 { EventLoop.monotonicNanoseconds }

    static var threadCPUNanoseconds: UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// The measured window's second that `now` falls in; nil during warm-up.
    @inline(__always)
    private func secondIndex(_ now: UInt64) -> Int? {
        guard now >= measureFromNanoseconds else { return nil }
        let second = Int((now - measureFromNanoseconds) / 1_000_000_000)
        while seconds.count <= second { seconds.append(SecondStats()) }
        return second
    }

    /// A failed attempt: in the totals, in its second, and against its named request (when
    /// one was in flight).
    func recordError(_ kind: ErrorKind, request: Int?) {
        errors.add(kind, 1)
        if let second = secondIndex(Worker.now) {
            seconds[second].errors += 1
            seconds[second].failures.add(kind, 1)
        }
        if let request, !perRequest.isEmpty { perRequest[request].failures.add(kind, 1) }
    }

    // MARK: Lifecycle

    func start(at start: UInt64) {
        cpuAtStart = Worker.threadCPUNanoseconds
        wallAtStart = Worker.now
        startNanoseconds = start
        measureFromNanoseconds = start + UInt64(plan.warmupSeconds * 1e9)
        for index in 0..<connectionCount {
            let connection = ClientConnection(worker: self, index: index)
            connections.append(connection)
            connection.connect()
        }
        // Connections open now; requests start together on every worker at `start`.
        let wait = start > Worker.now ? (start - Worker.now + 999_999) / 1_000_000 : 0
        loop.schedule(afterMilliseconds: wait) { [self] in
            // libuv's timer clock counts whole milliseconds: wait out the rest precisely.
            while Worker.now < startNanoseconds {}
            started = true
            let now = Worker.now
            if plan.rate == nil {
                if let stages = plan.connectionStages {
                    activeConnections = min(connectionCount, Int((stages.value(at: 0) * rateShare).rounded()))
                }
                for connection in connections where connection.connected { refill(connection, now: now) }
            }
        }
        let timer = UnsafeMutablePointer<uv_timer_t>.allocate(capacity: 1)
        uv_timer_init(loop.uvLoop, timer)
        timer.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        uv_timer_start(timer, { handle in
            Unmanaged<Worker>.fromOpaque(handle!.pointee.data).takeUnretainedValue().tick()
        }, 10, 10)
        ticker = timer
        if plan.rate != nil {
            scheduleFD = timerfd_create(CLOCK_MONOTONIC, Int32(TFD_NONBLOCK) | Int32(TFD_CLOEXEC))
            scheduleWatcher = try? FDWatcher(loop: loop, fd: scheduleFD) { [unowned self] _ in
                var expirations: UInt64 = 0
                _ = read(scheduleFD, &expirations, 8)
                releaseDue()
            }
            scheduleWatcher?.watch(.readable)
            cuv_timerfd_at(scheduleFD, startNanoseconds)
        }
        if connectionCount == 0 { finish() }
    }

    /// Stops issuing; requests in flight may finish until `graceSeconds` have passed.
    func stop(graceSeconds: Double) {
        stopping = true
        stopDeadline = Worker.now + UInt64(graceSeconds * 1e9)
        if connections.allSatisfy({ $0.inFlight == 0 }) { finish() }
    }

    private func finish() {
        guard !signalled else { return }
        signalled = true
        cpuNanoseconds = Worker.threadCPUNanoseconds &- cpuAtStart
        wallNanoseconds = Worker.now &- wallAtStart
        if let ticker {
            uv_timer_stop(ticker)
            uv_close(cuv_handle_timer(ticker)) { $0!.withMemoryRebound(to: uv_timer_t.self, capacity: 1) { $0.deallocate() } }
            self.ticker = nil
        }
        if let scheduleWatcher {
            scheduleWatcher.close()
            self.scheduleWatcher = nil
            close(scheduleFD)
        }
        for connection in connections {
            // What is still in flight at the end was sent and never answered in time.
            connection.countInFlight(as: .timeout)
            connection.shutdown()
        }
        finished.signal()
    }

    // MARK: Scheduling

    private func tick() {
        let now = Worker.now
        if stopping {
            if now >= stopDeadline || connections.allSatisfy({ $0.inFlight == 0 }) { finish() }
            return
        }
        if let stages = plan.connectionStages, started {
            // Active connections follow the stages; this worker's share, rounded.
            let elapsed = Double(now &- startNanoseconds) / 1e9
            let target = Int((stages.value(at: elapsed) * rateShare).rounded())
            let wanted = min(connections.count, max(0, target))
            if wanted != activeConnections {
                let grew = wanted > activeConnections
                activeConnections = wanted
                if grew { for connection in connections.prefix(wanted) where connection.connected && connection.inFlight == 0 { refill(connection, now: now) } }
            }
        }
        if now - lastTimeoutCheck > 100_000_000 {
            lastTimeoutCheck = now
            checkTimeouts(now)
        }
    }

    /// Open loop: every request has an intended start on the schedule; those due now go out
    /// on free connections at once, the rest wait in the backlog with their times kept (so a
    /// stalled server shows in the latencies). A timerfd wakes the loop at the next intended
    /// start with microsecond precision (libuv's timers count milliseconds).
    private func releaseDue() {
        guard let rate = plan.rate, !stopping else { return }
        let now = Worker.now
        if now >= startNanoseconds {
            // Request i is released once its intended start has come (not one interval later).
            let cap = rate.totalSeconds.map { rate.expectedCount(at: $0) * rateShare }
            while cap.map({ Double(issued) < $0 }) ?? true {
                let intended = startNanoseconds + UInt64(rate.time(ofRequest: Double(issued) / rateShare) * 1e9)
                if intended > now { break }
                issued += 1
                if intended >= measureFromNanoseconds { _ = scheduleLag.record(max(1, (now - intended) / 1000)) }
                if let connection = freeConnection() {
                    dispatch(on: connection, intendedStart: intended, now: now)
                } else {
                    backlog.append(intended)
                }
            }
            flushDirty()
        }
        let next = startNanoseconds + UInt64(max(0, rate.time(ofRequest: Double(issued) / rateShare)) * 1e9)
        // At least 20 µs apart: at very high rates each wake-up releases a batch.
        cuv_timerfd_at(scheduleFD, max(next, now + 20_000))
    }

    private func checkTimeouts(_ now: UInt64) {
        let limit = UInt64(plan.timeoutSeconds * 1e9)
        for connection in connections where connection.connected {
            if let sent = connection.oldestSentAt, now - sent > limit {
                connection.drop(countInFlightAs: .timeout)
            }
        }
    }

    private func freeConnection() -> ClientConnection? {
        while let connection = ready.popLast() {
            connection.isReady = false
            if connection.connected && connection.inFlight < plan.pipelineDepth { return connection }
        }
        return nil
    }

    private func dispatch(on connection: ClientConnection, intendedStart: UInt64, now: UInt64) {
        let index = plan.pick(&random)
        connection.send(plan.templates[index].render(&random, &sequence), request: plan.nameIndex[index],
                        intendedStart: intendedStart, now: now)
        if let second = secondIndex(now) { seconds[second].sent += 1 }
        if plan.pipelineDepth == 1 && plan.rate == nil {
            // One request per connection in flight: write it now, as wrk does, so the time
            // from the timestamp to the wire is not spent waiting for the rest of the loop turn.
            connection.flush()
        } else if !connection.hasUnsentQueued {
            connection.hasUnsentQueued = true
            // Sends queued during one loop turn leave together, after the turn's callbacks.
            if dirty.isEmpty { loop.afterTurn(flushAfterTurn) }
            dirty.append(connection)
        }
        if connection.inFlight < plan.pipelineDepth { markReady(connection) }
    }

    /// Puts a connection on the free list once (a flag, not a search: this runs per response).
    @inline(__always)
    private func markReady(_ connection: ClientConnection) {
        guard !connection.isReady else { return }
        connection.isReady = true
        ready.append(connection)
    }

    private func flushDirty() {
        guard !dirty.isEmpty else { return }
        let batch = dirty
        dirty.removeAll(keepingCapacity: true)
        for connection in batch {
            connection.hasUnsentQueued = false
            if connection.connected { connection.flush() }
        }
    }

    /// Closed loop: keep each connection `pipelineDepth` deep. Open loop: take from the backlog.
    private func refill(_ connection: ClientConnection, now: UInt64) {
        guard !stopping, connection.connected else { return }
        guard started else {
            markReady(connection)
            return
        }
        if plan.rate == nil {
            if let limit = requestLimit, issued >= limit { return beginStopIfDone() }
            if plan.connectionStages != nil, connection.index >= activeConnections { return }
            while connection.connected && connection.inFlight < plan.pipelineDepth {
                issued += 1
                dispatch(on: connection, intendedStart: now, now: now)
                if let limit = requestLimit, issued >= limit { break }
            }
            return
        }
        while backlogHead < backlog.count && connection.inFlight < plan.pipelineDepth {
            let intended = backlog[backlogHead]
            backlogHead += 1
            dispatch(on: connection, intendedStart: intended, now: now)
        }
        if backlogHead == backlog.count {
            backlog.removeAll(keepingCapacity: true)
            backlogHead = 0
        }
        if connection.inFlight < plan.pipelineDepth { markReady(connection) }
    }

    private func beginStopIfDone() {
        if connections.allSatisfy({ $0.inFlight == 0 }) { stop(graceSeconds: 0) }
    }

    // MARK: Connection events

    func connectionReady(_ connection: ClientConnection) {
        refill(connection, now: Worker.now)
    }

    func connectionLost(_ connection: ClientConnection, reconnect: Bool) {
        if stopping {
            if connections.allSatisfy({ $0.inFlight == 0 }) { finish() }
            return
        }
        guard reconnect else { return }
        // A short pause keeps a refused port from spinning the loop.
        loop.schedule(afterMilliseconds: 10) { [weak connection] in connection?.connect() }
    }

    func completed(_ connection: ClientConnection, status: Int, request: Int, intendedStart: UInt64) {
        let now = Worker.now
        lastResponseNanoseconds = now
        if intendedStart < measureFromNanoseconds {
            warmupRequests += 1
        } else {
            requests += 1
            statuses[status, default: 0] += 1
            let micros = max(1, (now &- intendedStart) / 1000)
            _ = histogram.record(micros)
            let second = secondIndex(now)!
            seconds[second].requests += 1
            seconds[second].count(status: status)
            _ = seconds[second].histogram.record(micros)
            if status >= 400 { seconds[second].errors += 1 }
            if !perRequest.isEmpty { perRequest[request].record(status: status, micros: micros) }
        }
        if stopping {
            if connections.allSatisfy({ $0.inFlight == 0 }) { finish() }
            return
        }
        refill(connection, now: now)
    }
}
