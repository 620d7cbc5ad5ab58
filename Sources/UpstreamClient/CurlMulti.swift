import CCurl
import Net

/// One loop's upstream HTTP client: a libcurl multi handle driven by the loop itself.
///
/// libcurl's socket interface hands us every socket it opens (`CURLMOPT_SOCKETFUNCTION`: which
/// events it wants) and one timer (`CURLMOPT_TIMERFUNCTION`: when to call it back); the loop
/// watches both with `FDWatcher` and `schedule`, and tells libcurl what happened with
/// `curl_multi_socket_action`. So a call costs no thread and no blocking: name resolution runs
/// on libcurl's resolver thread, everything else on this loop. The multi handle keeps the
/// connection cache (keep-alive per host, HTTP/2 multiplexing where the upstream offers it)
/// and the DNS cache for every transfer of the loop.
///
/// Loop thread only: made with `CurlMulti.on(loop)`, never shared.
public final class CurlMulti {
    let loop: EventLoop
    let multi: UnsafeMutableRawPointer
    var watchers: [Int32: FDWatcher] = [:]
    /// libcurl's one timer, re-armed as it asks (several times per call).
    let timer: LoopTimer
    /// Reset easy handles kept for the next calls (creating one costs ~10 µs and a few
    /// allocations; its own caches are worth keeping), each with its deadline timer.
    var idleHandles: [(easy: UnsafeMutableRawPointer, deadline: LoopTimer)] = []
    var running: [ObjectIdentifier: UpstreamTransfer] = [:]
    /// Set while libcurl is calling us back: it may not be re-entered then.
    var inCallback = false
    /// Whether libcurl's "call me now" is queued for the end of this turn.
    var kickScheduled = false

    static let key = LoopLocalKey()
    static let globalInit: Bool = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK }()

    /// The client of `loop` (made on first use, cleaned up when the loop stops).
    public static func on(_ loop: EventLoop) -> CurlMulti {
        loop.local(for: key) {
            let made = CurlMulti(loop: loop)
            loop.onStop { made.shutdown() }
            return made
        }
    }

    init(loop: EventLoop) {
        loop.preconditionInLoop()
        precondition(CurlMulti.globalInit, "curl_global_init failed")
        self.loop = loop
        multi = curl_multi_init()!
        timer = LoopTimer(loop: loop)
        let me = Unmanaged.passUnretained(self).toOpaque()
        _ = aiw_multi_socket_cb(multi, { _, socket, what, userp, _ in
            let me = Unmanaged<CurlMulti>.fromOpaque(userp!).takeUnretainedValue()
            me.socketChanged(socket, what)
            return 0
        }, me)
        _ = aiw_multi_timer_cb(multi, { _, timeoutMs, userp in
            let me = Unmanaged<CurlMulti>.fromOpaque(userp!).takeUnretainedValue()
            me.timerChanged(timeoutMs)
            return 0
        }, me)
        // Idle connections kept across calls: enough for a loop's share of concurrent streams.
        _ = aiw_multi_long(multi, CURLMOPT_MAXCONNECTS, 256)
    }

    /// Starts `request`; the handlers run on this loop. `onHead` comes once, before any body
    /// byte; `onBody` as bytes arrive; `onEnd` once, last (nil: the answer is complete).
    @discardableResult
    public func start(_ request: UpstreamRequest,
                      onHead: @escaping (UpstreamHead) -> Void,
                      onBody: @escaping (UnsafeRawBufferPointer) -> Void,
                      onEnd: @escaping (UpstreamError?) -> Void) -> UpstreamTransfer {
        loop.preconditionInLoop()
        let (easy, deadline) = idleHandles.popLast() ?? (curl_easy_init()!, LoopTimer(loop: loop))
        let transfer = UpstreamTransfer(client: self, easy: easy, deadline: deadline, request: request,
                                        onHead: onHead, onBody: onBody, onEnd: onEnd)
        transfer.configure()
        running[ObjectIdentifier(transfer)] = transfer
        let rc = curl_multi_add_handle(multi, easy)
        if rc != CURLM_OK {
            let message = String(cString: curl_multi_strerror(rc))
            // Reported on the next turn: a caller's handler must not run inside its own call.
            _ = loop.schedule(afterMilliseconds: 0) { [self] in finish(transfer, .transfer(message), removeFromMulti: false) }
        }
        return transfer
    }

    // MARK: libcurl's callbacks

    func socketChanged(_ socket: curl_socket_t, _ what: Int32) {
        if what == CURL_POLL_REMOVE {
            watchers.removeValue(forKey: socket)?.close()
            return
        }
        var events = FDWatcher.Events()
        if what == CURL_POLL_IN || what == CURL_POLL_INOUT { events.insert(.readable) }
        if what == CURL_POLL_OUT || what == CURL_POLL_INOUT { events.insert(.writable) }
        if let watcher = watchers[socket] {
            watcher.watch(events)
            return
        }
        do {
            let watcher = try FDWatcher(loop: loop, fd: socket) { [unowned self] readiness in
                var flags: Int32 = 0
                switch readiness {
                case .ready(let ready):
                    if ready.contains(.readable) { flags |= CURL_CSELECT_IN }
                    if ready.contains(.writable) { flags |= CURL_CSELECT_OUT }
                case .failed:
                    flags = CURL_CSELECT_ERR
                }
                act(socket, flags)
            }
            watchers[socket] = watcher
            watcher.watch(events)
        } catch {
            // libuv refused the descriptor: let libcurl find the socket broken.
            _ = loop.schedule(afterMilliseconds: 0) { [self] in act(socket, CURL_CSELECT_ERR) }
        }
    }

    func timerChanged(_ timeoutMs: Int) {
        guard timeoutMs >= 0 else { return timer.disarm() }
        if timeoutMs == 0 {
            // "Now" (a transfer was just added): at the end of this turn rather than on a 0 ms
            // timer, which fires only after the loop has polled once more — a syscall and a
            // turn's latency per call — and once for all the transfers this turn added. Never
            // from inside libcurl's callback (it forbids re-entry): the turn's end is outside it.
            timer.disarm()
            guard !kickScheduled else { return }
            kickScheduled = true
            loop.afterTurn { [unowned self] in
                kickScheduled = false
                act(CURL_SOCKET_TIMEOUT, 0)
            }
            return
        }
        timer.arm(afterMilliseconds: UInt64(timeoutMs)) { [unowned self] in act(CURL_SOCKET_TIMEOUT, 0) }
    }

    func act(_ socket: curl_socket_t, _ flags: Int32) {
        var stillRunning: Int32 = 0
        inCallback = true
        _ = curl_multi_socket_action(multi, socket, flags, &stillRunning)
        inCallback = false
        collectFinished()
    }

    /// Ends every transfer libcurl reports done.
    func collectFinished() {
        var pending: Int32 = 0
        while let message = curl_multi_info_read(multi, &pending) {
            guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
            let result = aiw_msg_result(message)
            var raw: UnsafeMutableRawPointer?
            _ = aiw_easy_info_ptr(easy, CURLINFO_PRIVATE, &raw)
            guard let raw else { continue }
            let transfer = Unmanaged<UpstreamTransfer>.fromOpaque(raw).takeUnretainedValue()
            finish(transfer, transfer.error(for: result), removeFromMulti: true)
        }
    }

    /// Detaches `transfer` (its handle goes back to the pool) and reports its end.
    func finish(_ transfer: UpstreamTransfer, _ error: UpstreamError?, removeFromMulti: Bool) {
        guard running.removeValue(forKey: ObjectIdentifier(transfer)) != nil else { return }
        if removeFromMulti { curl_multi_remove_handle(multi, transfer.easy) }
        transfer.end(error)
        curl_easy_reset(transfer.easy)
        if idleHandles.count < 64 {
            idleHandles.append((transfer.easy, transfer.deadline))
        } else {
            curl_easy_cleanup(transfer.easy)
            transfer.deadline.close()
        }
    }

    /// Aborts `transfer` from outside libcurl's callbacks (a timeout, a cancel).
    func abort(_ transfer: UpstreamTransfer, _ error: UpstreamError) {
        if inCallback {
            _ = loop.schedule(afterMilliseconds: 0) { [self] in abort(transfer, error) }
            return
        }
        finish(transfer, error, removeFromMulti: true)
    }

    func shutdown() {
        for transfer in Array(running.values) { finish(transfer, .cancelled, removeFromMulti: true) }
        timer.close()
        for watcher in watchers.values { watcher.close() }
        watchers.removeAll()
        curl_multi_cleanup(multi)
        for (easy, deadline) in idleHandles {
            curl_easy_cleanup(easy)
            deadline.close()
        }
        idleHandles.removeAll()
    }
}
