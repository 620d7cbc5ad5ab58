import CHiredis
import Net

/// hiredis 0.14's async event hooks on a loop's `FDWatcher`, in place of Debian's
/// adapters/libuv.h, which drops poll errors (status < 0) on the floor: here an error wakes
/// hiredis's read handler, so the failure surfaces as a disconnect at once instead of a silent
/// stall. Timeouts are kept by `RedisClient` on the loop's own timers.
final class HiredisLoopAdapter {
    private var context: UnsafeMutablePointer<redisAsyncContext>?
    private var watcher: FDWatcher?
    private var events = FDWatcher.Events()

    /// Hooks `context` to `loop`; false when it cannot be watched (it is the caller's to free).
    static func attach(_ context: UnsafeMutablePointer<redisAsyncContext>, to loop: EventLoop) -> Bool {
        guard context.pointee.ev.data == nil else { return false }
        let adapter = HiredisLoopAdapter()
        do {
            adapter.watcher = try FDWatcher(loop: loop, fd: context.pointee.c.fd) { [unowned adapter] in adapter.ready($0) }
        } catch {
            return false
        }
        adapter.context = context
        // hiredis holds the adapter until `cleanup`.
        context.pointee.ev.data = Unmanaged.passRetained(adapter).toOpaque()
        context.pointee.ev.addRead = { HiredisLoopAdapter.from($0).update { $0.insert(.readable) } }
        context.pointee.ev.delRead = { HiredisLoopAdapter.from($0).update { $0.remove(.readable) } }
        context.pointee.ev.addWrite = { HiredisLoopAdapter.from($0).update { $0.insert(.writable) } }
        context.pointee.ev.delWrite = { HiredisLoopAdapter.from($0).update { $0.remove(.writable) } }
        context.pointee.ev.cleanup = { data in
            let adapter = Unmanaged<HiredisLoopAdapter>.fromOpaque(data!).takeRetainedValue()
            adapter.context = nil
            adapter.watcher?.close()
            adapter.watcher = nil
        }
        return true
    }

    static func from(_ data: UnsafeMutableRawPointer?) -> HiredisLoopAdapter {
        Unmanaged<HiredisLoopAdapter>.fromOpaque(data!).takeUnretainedValue()
    }

    private func update(_ change: (inout FDWatcher.Events) -> Void) {
        change(&events)
        watcher?.watch(events)
    }

    private func ready(_ readiness: FDWatcher.Readiness) {
        // hiredis may free the context (and run `cleanup`) inside either handler.
        withExtendedLifetime(self) {
            guard let context else { return }
            let ready: FDWatcher.Events
            switch readiness {
            case .ready(let events): ready = events
            case .failed: ready = events.isEmpty ? .readable : events
            }
            if ready.contains(.readable) { redisAsyncHandleRead(context) }
            if let context = self.context, ready.contains(.writable) { redisAsyncHandleWrite(context) }
        }
    }
}
