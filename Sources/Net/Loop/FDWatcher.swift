import CUV

/// Readiness of one file descriptor on a loop (`uv_poll`): how every client that owns its own
/// socket plugs into the loop — PostgreSQL (libpq), Redis (hiredis), the load generator's
/// connections and its schedule timer, and next libcurl. One lifecycle for all of them: `watch`
/// the events wanted now (changing them is cheap and skipped when unchanged), `stop`, and
/// `close` (the handle is freed after libuv's close callback; events after `close` are never
/// delivered). Loop thread only.
public final class FDWatcher {
    public struct Events: OptionSet, Sendable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let readable = Events(rawValue: Int32(UV_READABLE.rawValue))
        public static let writable = Events(rawValue: Int32(UV_WRITABLE.rawValue))
    }

    /// What a watcher reports: the events that are ready, or the poll's error (a negative
    /// libuv status, e.g. the descriptor was closed behind libuv's back).
    public enum Readiness {
        case ready(Events)
        case failed(Int32)
    }

    public let fd: Int32
    unowned(unsafe) let loop: EventLoop
    let handle: UnsafeMutablePointer<uv_poll_t>
    var handler: ((Readiness) -> Void)?
    public private(set) var events = Events()
    public private(set) var isClosed = false

    /// Watches `fd` (nothing yet: call `watch`). Fails when libuv refuses the descriptor.
    public init(loop: EventLoop, fd: Int32, _ handler: @escaping (Readiness) -> Void) throws(NetError) {
        loop.preconditionInLoop()
        self.fd = fd
        self.loop = loop
        self.handler = handler
        handle = .allocate(capacity: 1)
        let rc = uv_poll_init(loop.uvLoop, handle, fd)
        guard rc == 0 else {
            handle.deallocate()
            throw .uv("uv_poll_init", rc)
        }
        // The handle holds the watcher until its close callback.
        handle.pointee.data = Unmanaged.passRetained(self).toOpaque()
    }

    /// Asks for exactly `events` from now on (an empty set stops watching).
    public func watch(_ events: Events) {
        loop.preconditionInLoop()
        guard !isClosed, events != self.events else { return }
        self.events = events
        if events.isEmpty {
            uv_poll_stop(handle)
            return
        }
        uv_poll_start(handle, events.rawValue) { handle, status, ready in
            let me = Unmanaged<FDWatcher>.fromOpaque(handle!.pointee.data).takeUnretainedValue()
            guard !me.isClosed, let handler = me.handler else { return }
            handler(status < 0 ? .failed(status) : .ready(Events(rawValue: ready)))
        }
    }

    /// Stops watching (the watcher can `watch` again).
    public func stop() { watch([]) }

    /// Stops for good and releases the handle; the handler is dropped at once, so whatever it
    /// captured is released even before libuv's close callback. The descriptor itself belongs
    /// to its owner (libpq, hiredis, the caller) and stays open.
    public func close() {
        loop.preconditionInLoop()
        guard !isClosed else { return }
        isClosed = true
        handler = nil
        uv_poll_stop(handle)
        uv_close(cuv_handle_poll(handle)) { handle in
            Unmanaged<FDWatcher>.fromOpaque(handle!.pointee.data).release()
            handle!.withMemoryRebound(to: uv_poll_t.self, capacity: 1) { $0.deallocate() }
        }
    }

    /// libuv's text for a poll error.
    public static func describe(_ status: Int32) -> String { String(cString: uv_strerror(status)) }
}
