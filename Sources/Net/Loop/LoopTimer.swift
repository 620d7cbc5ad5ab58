import CUV

/// One libuv timer kept for re-arming: for a deadline that moves on every event (a client's
/// curl timer, a call's first-byte and idle deadlines). `schedule` makes and closes a handle
/// per task, which at tens of thousands of calls a second was a measurable share of the loop;
/// re-arming this one is a heap update inside libuv. Loop thread only; `close` when done.
public final class LoopTimer {
    unowned(unsafe) let loop: EventLoop
    let timer: UnsafeMutablePointer<uv_timer_t>
    var task: (() -> Void)?
    var closed = false

    public init(loop: EventLoop) {
        loop.preconditionInLoop()
        self.loop = loop
        timer = .allocate(capacity: 1)
        uv_timer_init(loop.loop, timer)
        // The handle refers to this object unretained: `close` must run before it goes away.
        timer.pointee.data = Unmanaged.passUnretained(self).toOpaque()
    }

    /// Runs `task` once after `milliseconds`, replacing whatever was armed.
    public func arm(afterMilliseconds milliseconds: UInt64, _ task: @escaping () -> Void) {
        guard !closed else { return }
        self.task = task
        uv_timer_start(timer, { timer in
            let me = Unmanaged<LoopTimer>.fromOpaque(timer!.pointee.data).takeUnretainedValue()
            let task = me.task
            me.task = nil
            task?()
        }, milliseconds, 0)
    }

    public func disarm() {
        task = nil
        if !closed { uv_timer_stop(timer) }
    }

    public var isArmed: Bool { task != nil }

    /// Stops for good; the handle is freed after libuv's close callback.
    public func close() {
        guard !closed else { return }
        closed = true
        task = nil
        uv_timer_stop(timer)
        let handle = timer
        // The close callback owns the memory from here; this object may be gone by then.
        handle.pointee.data = nil
        uv_close(cuv_handle_timer(handle)) { h in
            h!.withMemoryRebound(to: uv_timer_t.self, capacity: 1) { $0.deallocate() }
        }
    }
}
