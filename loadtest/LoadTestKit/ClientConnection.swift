import DequeModule
import Net
#if canImport(Glibc)
import Glibc
#endif

/// One keep-alive connection of a worker: a non-blocking socket on the worker's loop
/// (`FDWatcher`, with `send`/`recv` done here, as wrk does with its own epoll loop), the HTTP/1
/// response parser from `Net`, and the send times of the requests still in flight.
/// Loop thread only.
final class ClientConnection {
    unowned let worker: Worker
    let parser = HTTPResponseParser()
    private var fd: Int32 = -1
    private var watcher: FDWatcher?
    private(set) var connected = false
    private var connecting = false
    /// Intended start (ns) of each request in flight, oldest first.
    private var starts = Deque<UInt64>()
    /// Actual send time (ns) of each request in flight, for timeouts.
    private var sentAt = Deque<UInt64>()
    /// The named request (`RunPlan.requestNames`) of each request in flight.
    private var requestIndices = Deque<Int32>()
    private var pending: [UInt8] = []
    private var pendingOffset = 0
    private var closed = false
    /// https://: the session, and ciphertext waiting to be written.
    private var tls: TLSClientSession?
    private var wire: [UInt8] = []
    private var wireOffset = 0
    /// On the worker's list of connections to flush at the end of this loop turn.
    var hasUnsentQueued = false
    /// On the worker's free list (open loop), so it is put there at most once.
    var isReady = false
    /// Position among the worker's connections (connection stages activate a prefix).
    let index: Int

    init(worker: Worker, index: Int) {
        self.worker = worker
        self.index = index
        parser.onResponse = { [unowned self] status in self.responded(status) }
    }

    var inFlight: Int { starts.count }
    var oldestSentAt: UInt64? { sentAt.first }

    // MARK: Connect

    func connect() {
        guard !closed else { return }
        fd = socket(worker.address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return failConnect() }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc = worker.address.connect(fd)
        guard rc == 0 || errno == EINPROGRESS else {
            Glibc.close(fd)
            fd = -1
            return failConnect()
        }
        connecting = true
        parser.reset()
        do {
            watcher = try FDWatcher(loop: worker.loop, fd: fd) { [self] readiness in onPoll(readiness) }
        } catch {
            Glibc.close(fd)
            fd = -1
            return failConnect()
        }
        watcher?.watch(.writable)
    }

    private func failConnect() {
        worker.recordError(.connect, request: nil)
        worker.connectionLost(self, reconnect: true)
    }

    private func onPoll(_ readiness: FDWatcher.Readiness) {
        let status: Int32
        let events: FDWatcher.Events
        switch readiness {
        case .ready(let ready): status = 0; events = ready
        case .failed(let error): status = error; events = []
        }
        if connecting {
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            guard status >= 0, error == 0 else {
                worker.recordError(.connect, request: nil)
                return drop(countInFlightAs: nil)
            }
            connecting = false
            if let context = worker.plan.tls {
                // Requests wait until the handshake is done.
                guard let session = TLSClientSession(context: context, serverName: worker.plan.target.host) else {
                    worker.recordError(.connect, request: nil)
                    return drop(countInFlightAs: nil)
                }
                tls = session
                watcher?.watch(.readable)
                return advanceHandshake()
            }
            connected = true
            watcher?.watch(.readable)
            worker.connectionReady(self)
            return
        }
        guard status >= 0 else { return drop(countInFlightAs: .io) }
        if events.contains(.readable) { readAvailable() }
        if !closed, connected, events.contains(.writable) { flush() }
    }

    // MARK: Requests and responses

    /// Queues a request; `intendedStart` is when the schedule meant it to leave (ns).
    func send(_ bytes: [UInt8], request: Int, intendedStart: UInt64, now: UInt64) {
        starts.append(intendedStart)
        sentAt.append(now)
        requestIndices.append(Int32(request))
        if pendingOffset == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingOffset = 0
        }
        pending.append(contentsOf: bytes)
    }

    /// Writes what is queued (called once per loop turn after sends were queued).
    func flush() {
        guard let tls else {
            sendRaw(&pending, &pendingOffset)
            return
        }
        guard tls.isEstablished else { return }
        if pendingOffset < pending.count {
            let ok = pending.withUnsafeBytes { tls.write($0.baseAddress! + pendingOffset, $0.count - pendingOffset) }
            pending.removeAll(keepingCapacity: true)
            pendingOffset = 0
            guard ok else { return drop(countInFlightAs: .io) }
        }
        tls.takeCiphertext(into: &wire)
        sendRaw(&wire, &wireOffset)
    }

    private func sendRaw(_ buffer: inout [UInt8], _ offset: inout Int) {
        while offset < buffer.count {
            let start = offset
            let n = buffer.withUnsafeBytes { bytes in
                Glibc.send(fd, bytes.baseAddress! + start, bytes.count - start, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                offset += n
                continue
            }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                watcher?.watch([.readable, .writable])
                return
            }
            return drop(countInFlightAs: .io)
        }
        buffer.removeAll(keepingCapacity: true)
        offset = 0
        watcher?.watch(.readable)
    }

    /// Sends the handshake's next flight; on completion the connection takes requests.
    private func advanceHandshake() {
        guard let tls else { return }
        let progress = tls.handshake()
        tls.takeCiphertext(into: &wire)
        sendRaw(&wire, &wireOffset)
        guard fd >= 0 else { return }
        switch progress {
        case .needMoreData: return
        case .failed:
            worker.recordError(.connect, request: nil)
            drop(countInFlightAs: nil)
        case .established:
            connected = true
            worker.connectionReady(self)
        }
    }

    var hasUnsent: Bool { pendingOffset < pending.count || wireOffset < wire.count }

    private func readAvailable() {
        let buffer = worker.readBuffer
        while !closed {
            let n = recv(fd, buffer, Worker.readBufferSize, 0)
            if n > 0, let tls {
                tls.receive(buffer, n)
                if !tls.isEstablished {
                    advanceHandshake()
                    if closed || fd < 0 || !tls.isEstablished { return }
                }
                // Decrypt into the same buffer: the ciphertext is already inside OpenSSL.
                while true {
                    let plain = tls.read(into: buffer, capacity: Worker.readBufferSize)
                    if plain == 0 { break }
                    if plain < 0 { return drop(countInFlightAs: .io) }
                    guard parser.feed(buffer, plain) else {
                        worker.recordError(.protocolError, request: requestIndices.first.map(Int.init))
                        return drop(countInFlightAs: nil)
                    }
                    if fd < 0 { return }
                }
                if n < Worker.readBufferSize { return }
                continue
            }
            if n > 0 {
                guard parser.feed(buffer, n) else {
                    worker.recordError(.protocolError, request: requestIndices.first.map(Int.init))
                    return drop(countInFlightAs: nil)
                }
                if n < Worker.readBufferSize { return }
                continue
            }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            // EOF or reset: what was in flight is lost.
            return drop(countInFlightAs: .io)
        }
    }

    private func responded(_ status: Int) {
        guard let start = starts.popFirst() else {
            worker.recordError(.protocolError, request: nil)
            return
        }
        sentAt.removeFirst()
        let request = Int(requestIndices.removeFirst())
        // A server that says `Connection: close` (nginx after keepalive_requests, an HTTP/1.0
        // answer) ends the connection cleanly: nothing more is sent on it, it is replaced, and
        // only requests already pipelined behind this answer are lost.
        let closing = !parser.shouldKeepAlive
        if closing { connected = false }
        worker.completed(self, status: status, request: request, intendedStart: start)
        if closing { drop(countInFlightAs: inFlight > 0 ? .io : nil) }
    }

    /// Closes the socket; requests in flight are counted as `kind` errors (when given) and
    /// the worker opens a replacement.
    func drop(countInFlightAs kind: Worker.ErrorKind?) {
        guard fd >= 0 else { return }
        if let kind { countInFlight(as: kind) }
        starts.removeAll(keepingCapacity: true)
        sentAt.removeAll(keepingCapacity: true)
        requestIndices.removeAll(keepingCapacity: true)
        pending.removeAll(keepingCapacity: true)
        pendingOffset = 0
        wire.removeAll(keepingCapacity: true)
        wireOffset = 0
        tls = nil
        closeSocket()
        worker.connectionLost(self, reconnect: true)
    }

    /// Each request still in flight counted as a `kind` error (its answer will never come).
    func countInFlight(as kind: Worker.ErrorKind) {
        for request in requestIndices { worker.recordError(kind, request: Int(request)) }
    }

    private func closeSocket() {
        connected = false
        connecting = false
        watcher?.close()
        watcher = nil
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Closes for good (end of the run).
    func shutdown() {
        closed = true
        closeSocket()
    }
}
