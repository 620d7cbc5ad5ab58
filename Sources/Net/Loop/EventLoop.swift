import CUV
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One libuv loop on its own thread: the unit of the threading model. Everything a connection
/// touches lives on one loop, so the request path takes no lock.
///
/// Other threads talk to a loop only through `execute` (a locked queue plus `uv_async_send`).
/// A one-second timer refreshes the cached `Date` header and runs per-loop housekeeping (the
/// server's timeout sweep), so no connection needs a timer of its own.
///
/// A loop is also a Swift concurrency executor (serial and task executor, as SwiftNIO's
/// `EventLoop` is): `spawn { … }` runs straight-line `async` code whose every step, and every
/// resumption after an `await`, happens on this loop's thread, so a multi-step flow touches
/// loop-owned state without locks.
public final class EventLoop: @unchecked Sendable {
    // @unchecked: the uv handles and every `var` are touched only on this loop's thread
    // (checked by `preconditionInLoop` in debug builds); `pending` is a Mutex.

    public let index: Int
    /// The loop thread's name (what `top -H` and `perf` show).
    public let threadName: String
    @usableFromInline let loop: UnsafeMutablePointer<uv_loop_t>
    let wakeup: UnsafeMutablePointer<uv_async_t>
    let tick: UnsafeMutablePointer<uv_timer_t>
    /// Runs the after-turn queue once the turn's I/O callbacks are done (a check handle, always
    /// on: a callback per iteration, no system call). `beforePoll` (a prepare handle) marks where
    /// the turn's I/O callbacks begin: work queued before that point (a timer callback) starts
    /// `spin`, an idle handle that keeps this turn's poll from blocking; work queued from an
    /// I/O callback needs nothing, the check phase follows in the same iteration. (Starting the
    /// idle handle every time cost an extra epoll_wait system call per turn.)
    let turnEnd: UnsafeMutablePointer<uv_check_t>
    let beforePoll: UnsafeMutablePointer<uv_prepare_t>
    let spin: UnsafeMutablePointer<uv_idle_t>
    var inPollPhase = false
    var spinning = false
    let pending = Mutex<[@Sendable () -> Void]>([])
    /// "Date: <IMF-fixdate>\r\n", 37 bytes, refreshed every second.
    @usableFromInline let dateLine: UnsafeMutablePointer<UInt8>
    var tickHandlers: [(id: Int, handler: () -> Void)] = []
    var nextTickID = 0
    var closeHandlers: [() -> Void] = []
    var afterTurnQueue: [() -> Void] = []
    var afterTurnJobs: [UnownedJob] = []
    var afterTurnArmed = false
    var thread: pthread_t?
    /// Set by the loop's own thread when it starts running: what `isInLoop` compares with.
    @usableFromInline var runningThread: pthread_t?
    public private(set) var isStopping = false

    init(index: Int, threadName: String = "loop") throws(NetError) {
        self.index = index
        self.threadName = threadName
        loop = .allocate(capacity: 1)
        var rc = uv_loop_init(loop)
        guard rc == 0 else { loop.deallocate(); throw NetError.uv("uv_loop_init", rc) }
        wakeup = .allocate(capacity: 1)
        tick = .allocate(capacity: 1)
        turnEnd = .allocate(capacity: 1)
        beforePoll = .allocate(capacity: 1)
        spin = .allocate(capacity: 1)
        dateLine = .allocate(capacity: 40)
        let prefix: StaticString = "Date: "
        dateLine.update(from: prefix.utf8Start, count: 6)
        dateLine[35] = 0x0D
        dateLine[36] = 0x0A
        rc = uv_async_init(loop, wakeup) { handle in
            EventLoop.from(handle!.pointee.loop).drainPending()
        }
        precondition(rc == 0, "uv_async_init failed")
        uv_timer_init(loop, tick)
        uv_check_init(loop, turnEnd)
        uv_prepare_init(loop, beforePoll)
        uv_idle_init(loop, spin)
        loop.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        uv_check_start(turnEnd) { handle in EventLoop.from(handle!.pointee.loop).endOfTurn() }
        uv_prepare_start(beforePoll) { handle in EventLoop.from(handle!.pointee.loop).inPollPhase = true }
        // Neither keeps the loop running once everything else has closed.
        uv_unref(cuv_handle_check(turnEnd))
        uv_unref(cuv_handle_prepare(beforePoll))
        refreshDate()
        uv_timer_start(tick, { timer in
            let me = EventLoop.from(timer!.pointee.loop)
            me.refreshDate()
            for entry in me.tickHandlers { entry.handler() }
        }, 1000, 1000)
    }

    deinit {
        uv_loop_close(loop)
        loop.deallocate()
        wakeup.deallocate()
        tick.deallocate()
        turnEnd.deallocate()
        beforePoll.deallocate()
        spin.deallocate()
        dateLine.deallocate()
    }

    @inline(__always)
    static func from(_ loop: UnsafeMutablePointer<uv_loop_t>?) -> EventLoop {
        Unmanaged<EventLoop>.fromOpaque(loop!.pointee.data).takeUnretainedValue()
    }

    func refreshDate() {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        (dateLine + 6).withMemoryRebound(to: CChar.self, capacity: 29) { out in
            _ = cuv_format_http_date(Int(now.tv_sec), out)
        }
    }

    /// The libuv loop, for handles owned by other modules (database sockets on `uv_poll`).
    /// Loop thread only.
    public var uvLoop: UnsafeMutablePointer<uv_loop_t> { loop }

    /// The loop's cached clock in milliseconds (updated once per loop iteration).
    @inlinable public var nowMilliseconds: UInt64 { uv_now(loop) }

    /// Monotonic nanoseconds, read from the clock.
    @inlinable public static var monotonicNanoseconds: UInt64 { uv_hrtime() }

    /// Runs `task` on this loop's thread. Callable from any thread.
    public func execute(_ task: @escaping @Sendable () -> Void) {
        pending.withLock { $0.append(task) }
        uv_async_send(wakeup)
    }

    func drainPending() {
        let tasks = pending.withLock { queue -> [@Sendable () -> Void] in
            let t = queue
            queue.removeAll(keepingCapacity: true)
            return t
        }
        for task in tasks { task() }
    }

    /// A handler registered with `onTick`, to remove it again.
    public struct TickHandlerID: Hashable, Sendable { let value: Int }

    /// Runs `handler` every second on this loop until it is removed. Loop thread only.
    @discardableResult
    public func onTick(_ handler: @escaping () -> Void) -> TickHandlerID {
        preconditionInLoop()
        nextTickID += 1
        tickHandlers.append((nextTickID, handler))
        return TickHandlerID(value: nextTickID)
    }

    /// Stops a handler `onTick` registered (a pool or client that shut down). Loop thread only.
    public func removeTick(_ id: TickHandlerID) {
        preconditionInLoop()
        tickHandlers.removeAll { $0.id == id.value }
    }

    // MARK: Loop affinity

    /// Whether the calling thread is this loop's (also true before the loop's thread starts,
    /// while the owner sets it up single-threaded).
    @inlinable public var isInLoop: Bool {
        guard let running = runningThread else { return true }
        return pthread_equal(running, pthread_self()) != 0
    }

    /// Traps in debug builds when loop-only code runs on another thread (SwiftNIO's
    /// `preconditionInEventLoop`); free in release builds.
    @inlinable public func preconditionInLoop(file: StaticString = #fileID, line: UInt = #line) {
        assert(isInLoop, "called off its event loop (\(threadName))", file: file, line: line)
    }

    /// The loop whose thread is calling, if any.
    public static var current: EventLoop? {
        guard let value = pthread_getspecific(EventLoop.currentKey) else { return nil }
        return Unmanaged<EventLoop>.fromOpaque(value).takeUnretainedValue()
    }

    static let currentKey: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()

    // MARK: After the turn

    /// Runs `body` once, on this loop, after the I/O callbacks of the current turn (and before
    /// the loop sleeps): where work is batched that many callbacks of one turn contributed to
    /// (one Redis script call for a turn's rate-limit decisions, one write per connection).
    /// Loop thread only.
    public func afterTurn(_ body: @escaping () -> Void) {
        preconditionInLoop()
        afterTurnQueue.append(body)
        armAfterTurn()
    }

    @inline(__always)
    func armAfterTurn() {
        afterTurnArmed = true
        if !inPollPhase && !spinning && !isStopping {
            spinning = true
            uv_idle_start(spin) { _ in }
        }
    }

    func endOfTurn() {
        inPollPhase = false
        if afterTurnArmed { runAfterTurn() }
    }

    func runAfterTurn() {
        // Work queued while this runs (a job resuming another) runs in the same pass.
        while !afterTurnQueue.isEmpty || !afterTurnJobs.isEmpty {
            if !afterTurnQueue.isEmpty {
                let bodies = afterTurnQueue
                afterTurnQueue.removeAll(keepingCapacity: true)
                for body in bodies { body() }
            }
            if !afterTurnJobs.isEmpty {
                let jobs = afterTurnJobs
                afterTurnJobs.removeAll(keepingCapacity: true)
                for job in jobs { run(job) }
            }
        }
        afterTurnArmed = false
        if spinning {
            spinning = false
            uv_idle_stop(spin)
        }
    }

    /// Runs `handler` when the loop stops, before its handles are closed. Loop thread only.
    public func onStop(_ handler: @escaping () -> Void) { closeHandlers.append(handler) }

    /// Runs `task` once after `milliseconds` on this loop; the returned timer can cancel it.
    /// A timer still pending when the loop stops is cancelled, and one asked for while it
    /// stops (a completion that re-arms itself) never starts: a live timer would keep the
    /// loop turning, and `join` waiting, until it fired. Loop thread only.
    @discardableResult
    public func schedule(afterMilliseconds milliseconds: UInt64, _ task: @escaping () -> Void) -> ScheduledTask {
        let scheduled = ScheduledTask(loop: self, task: task)
        scheduled.start(milliseconds)
        return scheduled
    }

    var scheduledByID: [ObjectIdentifier: ScheduledTask] = [:]
    /// A handful of entries (a key cache, a pool, a limiter connection): a linear scan beats
    /// hashing, and this is read on every authenticated request.
    var locals: [(key: LoopLocalKey, value: AnyObject)] = []

    /// The object this loop keeps under `key` (a connection pool, a cache shard), made by
    /// `create` on first use. Lets a shared service keep per-loop state without a lock.
    /// Loop thread only.
    @inlinable
    public func local<T: AnyObject>(for key: LoopLocalKey, create: () -> T) -> T {
        if let existing = localValue(key) { return unsafeDowncast(existing, to: T.self) }
        let made = create()
        setLocalValue(made, key)
        return made
    }

    /// What this loop keeps under `key`, if anything (nothing is made). Loop thread only.
    public func existingLocal<T: AnyObject>(for key: LoopLocalKey, as type: T.Type) -> T? {
        localValue(key).map { unsafeDowncast($0, to: T.self) }
    }

    /// Forgets (and returns) what this loop keeps under `key`: its owner is shutting down.
    /// Loop thread only.
    @discardableResult
    public func removeLocal(for key: LoopLocalKey) -> AnyObject? {
        guard let index = locals.firstIndex(where: { $0.key == key }) else { return nil }
        return locals.remove(at: index).value
    }

    @usableFromInline func localValue(_ key: LoopLocalKey) -> AnyObject? {
        for entry in locals where entry.key == key { return entry.value }
        return nil
    }

    @usableFromInline func setLocalValue(_ value: AnyObject, _ key: LoopLocalKey) {
        if let index = locals.firstIndex(where: { $0.key == key }) { locals[index].value = value } else { locals.append((key, value)) }
    }

    /// Calls `handler` on this loop whenever the process receives `signalNumber`; the watch
    /// ends when the loop stops. Loop thread only (or before the loop's thread starts).
    public func watchSignal(_ signalNumber: Int32, _ handler: @escaping (Int32) -> Void) {
        let handle = UnsafeMutablePointer<uv_signal_t>.allocate(capacity: 1)
        uv_signal_init(loop, handle)
        handle.pointee.data = Unmanaged.passRetained(SignalBox(handler)).toOpaque()
        uv_signal_start(handle, { handle, signalNumber in
            Unmanaged<SignalBox>.fromOpaque(handle!.pointee.data).takeUnretainedValue().handler(signalNumber)
        }, signalNumber)
        onStop {
            uv_close(cuv_handle_signal(handle)) { handle in
                Unmanaged<SignalBox>.fromOpaque(handle!.pointee.data).release()
                handle!.withMemoryRebound(to: uv_signal_t.self, capacity: 1) { $0.deallocate() }
            }
        }
    }

    /// Runs `work` on libuv's worker pool and `completion` with its result back on this loop:
    /// the home for SQLite calls, index builds and anything else that would block a loop.
    /// Loop thread only.
    public func submit<T>(_ work: @escaping @Sendable () -> T, completion: @escaping (T) -> Void) {
        let request = UnsafeMutablePointer<uv_work_t>.allocate(capacity: 1)
        let box = WorkBox(work: work, completion: completion)
        request.pointee.data = Unmanaged.passRetained(box).toOpaque()
        let rc = uv_queue_work(loop, request, { request in
            Unmanaged<WorkBoxBase>.fromOpaque(request!.pointee.data).takeUnretainedValue().runWork()
        }, { request, _ in
            let box = Unmanaged<WorkBoxBase>.fromOpaque(request!.pointee.data).takeRetainedValue()
            request!.deallocate()
            box.runCompletion()
        })
        precondition(rc == 0, "uv_queue_work failed")
    }

    /// Runs this loop on the calling thread, which must not be another loop's and while no
    /// thread of its own runs it: `start` first, then turns until `until()` holds or
    /// `timeoutMilliseconds` pass. The socket-free test harness (`HTTPResponseRecorder`)
    /// drives a loop this way, so asynchronous steps complete as they would on a server.
    public func runOnCallingThread(timeoutMilliseconds: UInt64, until: () -> Bool, _ start: () -> Void) {
        precondition(thread == nil, "the loop already runs on its own thread")
        let previous = pthread_getspecific(EventLoop.currentKey)
        runningThread = pthread_self()
        pthread_setspecific(EventLoop.currentKey, Unmanaged.passUnretained(self).toOpaque())
        defer {
            runningThread = nil
            pthread_setspecific(EventLoop.currentKey, previous)
        }
        uv_update_time(loop)
        let deadline = uv_now(loop) + timeoutMilliseconds
        start()
        if afterTurnArmed { runAfterTurn() }
        while !until() && uv_now(loop) < deadline {
            uv_run(loop, UV_RUN_ONCE)
        }
    }

    func run() {
        runningThread = pthread_self()
        pthread_setspecific(EventLoop.currentKey, Unmanaged.passUnretained(self).toOpaque())
        uv_run(loop, UV_RUN_DEFAULT)
        // Close callbacks of handles closed during the last iteration.
        uv_run(loop, UV_RUN_NOWAIT)
    }

    /// Stops the loop: runs the stop handlers, closes the loop's own handles, and lets uv_run
    /// return once every other handle is closed. Loop thread only.
    func stopOnLoop() {
        guard !isStopping else { return }
        isStopping = true
        for handler in closeHandlers { handler() }
        for task in scheduledByID.values { task.cancel() }
        drainPending()
        if afterTurnArmed { runAfterTurn() }
        uv_close(cuv_handle_async(wakeup), nil)
        uv_timer_stop(tick)
        uv_close(cuv_handle_timer(tick), nil)
        uv_check_stop(turnEnd)
        uv_close(cuv_handle_check(turnEnd), nil)
        uv_prepare_stop(beforePoll)
        uv_close(cuv_handle_prepare(beforePoll), nil)
        uv_idle_stop(spin)
        uv_close(cuv_handle_idle(spin), nil)
    }
}

final class SignalBox {
    let handler: (Int32) -> Void
    init(_ handler: @escaping (Int32) -> Void) { self.handler = handler }
}

/// A one-shot timer on a loop (libuv's init/start/stop/close lifecycle behind one object).
public final class ScheduledTask {
    unowned(unsafe) let loop: EventLoop
    let timer: UnsafeMutablePointer<uv_timer_t>
    var task: (() -> Void)?

    init(loop: EventLoop, task: @escaping () -> Void) {
        self.loop = loop
        self.task = task
        timer = .allocate(capacity: 1)
        uv_timer_init(loop.loop, timer)
    }

    func start(_ milliseconds: UInt64) {
        // The timer holds a reference to this object until its handle is closed.
        timer.pointee.data = Unmanaged.passRetained(self).toOpaque()
        loop.scheduledByID[ObjectIdentifier(self)] = self
        if loop.isStopping { return cancel() }
        uv_timer_start(timer, { timer in
            let me = Unmanaged<ScheduledTask>.fromOpaque(timer!.pointee.data).takeUnretainedValue()
            let task = me.task
            me.cancel()
            task?()
        }, milliseconds, 0)
    }

    /// Cancels the task if it has not run. Loop thread only.
    public func cancel() {
        guard task != nil else { return }
        task = nil
        loop.scheduledByID[ObjectIdentifier(self)] = nil
        uv_timer_stop(timer)
        uv_close(cuv_handle_timer(timer)) { handle in
            let me = Unmanaged<ScheduledTask>.fromOpaque(handle!.pointee.data).takeRetainedValue()
            me.timer.deallocate()
        }
    }
}

class WorkBoxBase {
    func runWork() {}
    func runCompletion() {}
}

final class WorkBox<T>: WorkBoxBase, @unchecked Sendable {
    // @unchecked: `work` runs on a pool thread, `completion` and `result` on the owning loop,
    // ordered by libuv (after_work_cb runs after work_cb has returned).
    let work: @Sendable () -> T
    let completion: (T) -> Void
    var result: T?
    init(work: @escaping @Sendable () -> T, completion: @escaping (T) -> Void) {
        self.work = work
        self.completion = completion
    }
    override func runWork() { result = work() }
    override func runCompletion() { completion(result!) }
}
