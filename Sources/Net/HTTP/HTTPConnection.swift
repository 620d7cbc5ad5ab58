import CUV
#if canImport(Glibc)
import Glibc
#endif

/// One accepted TCP connection speaking HTTP/1.1, owned by one loop for its whole life.
///
/// Requests are answered strictly in order: the connection parses nothing further while a
/// response is outstanding (bytes already received wait in `stash`), so pipelined responses
/// can never overtake each other and a request's bytes stay valid until it is answered. All
/// responses produced while handling one read go out in one write (`uv_try_write`, then
/// `uv_write` for any remainder).
@usableFromInline
final class HTTPConnection {
    enum Phase: UInt8 { case open, lingering, closed }

    unowned(unsafe) let server: HTTPLoopServer
    let tcp: UnsafeMutablePointer<uv_tcp_t>
    /// Allocated on first use: most responses leave through uv_try_write and most connections
    /// never linger, so an idle connection carries neither.
    var writeRequestStorage: UnsafeMutablePointer<uv_write_t>?
    var shutdownRequestStorage: UnsafeMutablePointer<uv_shutdown_t>?
    /// Taken from the loop's pool when a request starts and given back as soon as the
    /// connection is idle again, so 10,000 idle keep-alive connections hold no parser at all.
    var codecStorage: HTTPRequestParser?

    @inline(__always) var codec: HTTPRequestParser {
        if let codec = codecStorage { return codec }
        let codec = server.takeCodec()
        codecStorage = codec
        return codec
    }

    /// Gives the parser back once nothing of a request is pending.
    @inline(__always) func returnCodecIfIdle() {
        guard let codec = codecStorage, codec.isIdle, !awaitingResponse, stash.isEmpty, phase == .open else { return }
        codecStorage = nil
        server.returnCodec(codec)
    }

    /// Responses (plaintext) not yet handed on.
    var out = ByteBuffer(capacity: 0)
    /// Bytes for the socket: `out` itself on a plain connection (swapped in), ciphertext on a
    /// TLS one.
    var wire = ByteBuffer(capacity: 0)
    /// Set on connections accepted by a TLS listener.
    var tls: TLSSession?
    var acceptedMs: UInt64 = 0
    /// The peer's IP, once asked for.
    var cachedRemoteIP: String?
    /// The bytes of the `uv_write` in flight; untouched until its callback.
    var inFlight = ByteBuffer(capacity: 0)
    /// Received bytes not parsed yet because a response is outstanding or the client is
    /// not reading its responses.
    var stash = ByteBuffer(capacity: 0)

    var phase = Phase.open
    var writing = false
    var reading = false
    var peerClosed = false
    var inBatch = false
    var awaitingResponse = false
    var streaming = false
    var closeAfterResponse = false
    /// The codec rejected the input: nothing more is parsed on this connection.
    var protocolFailed = false
    var continueSent = false
    /// The request being answered streams its body (`HTTPBodySink`) and that body has not ended.
    var bodyStreaming = false
    /// Its sink asked for a pause (`HTTPBodySink.bodyBytes` returned false).
    var bodyPaused = false
    /// Called once everything written so far is in the kernel (`HTTPResponder.whenDrained`).
    var drainWaiter: (() -> Void)?
    /// The streamed response has a Content-Length: chunks go out unframed.
    var streamHasLength = false
    var queuedResponses = 0
    var generation: UInt32 = 0
    /// The current request's handler tag and response status, for `responseEnded`.
    var responseTag = 0
    var responseStatus = 0
    var requestID: UInt64 = 0
    var requestStart: UInt64 = 0
    var headStartMs: UInt64 = 0
    var requestsServed = 0
    /// Loop time (ms) at which the sweep closes this connection.
    var deadline: UInt64 = 0
    /// Position in the loop's connection list, for O(1) removal.
    var listIndex = 0

    init(server: HTTPLoopServer) {
        self.server = server
        tcp = .allocate(capacity: 1)
    }

    deinit {
        tcp.deallocate()
        writeRequestStorage?.deallocate()
        shutdownRequestStorage?.deallocate()
    }

    /// Called by the sweep: an idle connection gives back its parser and buffers.
    func releaseIdleMemory() {
        guard isIdle else { return }
        returnCodecIfIdle()
        if out.allocatedBytes > 0 { out = ByteBuffer(capacity: 0) }
        if wire.allocatedBytes > 0 { wire = ByteBuffer(capacity: 0) }
        if inFlight.allocatedBytes > 0 { inFlight = ByteBuffer(capacity: 0) }
        if stash.allocatedBytes > 0 { stash = ByteBuffer(capacity: 0) }
    }

    @inline(__always) var stream: UnsafeMutablePointer<uv_stream_t> { cuv_stream(tcp) }

    @inline(__always)
    static func from(_ handle: UnsafeMutableRawPointer?) -> HTTPConnection {
        Unmanaged<HTTPConnection>.fromOpaque(handle!).takeUnretainedValue()
    }

    // MARK: - Reading

    func startReading() {
        guard !reading, phase != .closed, !peerClosed else { return }
        reading = true
        uv_read_start(stream, { handle, _, buf in
            let me = HTTPConnection.from(handle!.pointee.data)
            buf!.pointee = uv_buf_init(me.server.readBuffer.assumingMemoryBound(to: CChar.self), UInt32(HTTPLoopServer.readBufferSize))
        }, { stream, nread, buf in
            HTTPConnection.from(stream!.pointee.data).didRead(nread, buf!.pointee.base)
        })
    }

    func stopReading() {
        guard reading else { return }
        reading = false
        uv_read_stop(stream)
    }

    func didRead(_ nread: Int, _ base: UnsafeMutablePointer<CChar>?) {
        if nread > 0 {
            server.stats.bytesIn.add(nread)
            if phase == .lingering { return }
            let bytes = UnsafeRawPointer(base!)
            if let tls {
                tls.receive(bytes, nread)
                if !tls.isEstablished && !advanceHandshake(tls) { return }
                pumpPlaintext(tls)
            } else {
                receive(bytes, nread)
            }
            flush()
            returnCodecIfIdle()
        } else if nread < 0 {
            // EOF or a read error. A response still owed is written before closing.
            peerClosed = true
            stopReading()
            // A streamed body with nothing of it left unparsed can never end now.
            if phase == .lingering || nread != Int(UV_EOF.rawValue) || (bodyStreaming && stash.isEmpty) {
                close()
            } else if awaitingResponse || hasPendingOutput {
                closeAfterResponse = true
            } else {
                close()
            }
        }
    }

    /// Plaintext arrived: parse it, or keep it while the connection waits.
    func receive(_ bytes: UnsafeRawPointer, _ count: Int) {
        if !stash.isEmpty {
            stash.writeBytes(bytes, count: count)
            return
        }
        let consumed = process(bytes, count)
        if consumed < count && phase == .open && !readyToClose {
            stash.writeBytes(bytes + consumed, count: count - consumed)
            stopReading()
        }
    }

    /// Continues a handshake; false when the connection cannot go on (not yet, or failed).
    func advanceHandshake(_ tls: TLSSession) -> Bool {
        switch tls.advance() {
        case .needMoreData:
            flush()
            return false
        case .failed(let reason):
            server.stats.tlsFailure(reason)
            server.handler.tlsHandshakeFailed(reason: reason, peer: server.remoteAddress(of: self))
            flush() // the alert, if OpenSSL queued one
            close()
            return false
        case .established:
            server.stats.tlsEstablished(resumed: tls.wasResumed, version: tls.protocolVersion)
            updateDeadline()
            return true
        }
    }

    /// Decrypts whatever TLS holds and hands it to the parser.
    func pumpPlaintext(_ tls: TLSSession) {
        while phase == .open {
            let n = tls.read(into: server.plaintextBuffer, capacity: HTTPLoopServer.readBufferSize)
            if n > 0 {
                receive(server.plaintextBuffer, n)
                continue
            }
            if n < 0 {
                // close_notify or a broken record: answer what is owed, then close.
                peerClosed = true
                stopReading()
                if awaitingResponse || hasPendingOutput { closeAfterResponse = true } else { close() }
            }
            return
        }
    }

    /// Parses and answers requests in `bytes` until they run out, a response is outstanding,
    /// or too many responses are queued. Returns the bytes consumed.
    func process(_ bytes: UnsafeRawPointer, _ count: Int) -> Int {
        inBatch = true
        defer { inBatch = false }
        var offset = 0
        let codec = self.codec
        let batchStart = EventLoop.monotonicNanoseconds
        while offset < count && phase == .open && (!awaitingResponse || bodyFlowing) && !protocolFailed {
            if codec.isIdle {
                // A closing connection finishes the request it is reading, and starts no other.
                if closeAfterResponse { break }
                if queuedResponses >= server.configuration.maxPipelinedResponses {
                    flush()
                    if hasPendingOutput { break }
                }
                requestStart = batchStart
                headStartMs = server.loop.nowMilliseconds
                continueSent = false
            }
            switch codec.parse(bytes + offset, count: count - offset) {
            case .needMoreData:
                offset = count
                if bodyStreaming && peerClosed {
                    close()
                    return offset
                }
                if codec.expectsContinue && !continueSent {
                    continueSent = true
                    out.writeStaticString("HTTP/1.1 100 Continue\r\n\r\n")
                }
            case .request(let consumed):
                offset += consumed
                if bodyStreaming {
                    endStreamedBody()
                } else {
                    dispatch()
                }
            case .head(let consumed):
                offset += consumed
                bodyStreaming = true
                dispatch()
            case .bodyPaused(let consumed):
                offset += consumed
                bodyPaused = true
            case .error(let error):
                offset = count
                if bodyStreaming { failStreamedBody(error) }
                respondToProtocolError(error)
            }
        }
        updateDeadline()
        return offset
    }

    /// A streamed body is being read: the handler attached its sink and has not paused it.
    var bodyFlowing: Bool {
        bodyStreaming && !bodyPaused && codecStorage?.bodySink != nil
    }

    /// The handler takes the streamed body of request `generation` (see `HTTPBodySink`).
    func readBody(generation: UInt32, into sink: any HTTPBodySink) {
        guard isCurrent(generation), codec.bodySink == nil else { return }
        guard bodyStreaming else {
            // The body arrived whole (it was empty, or the route's limit was not asked for).
            if codec.body.readableBytes > 0 { codec.body.withReadableBytes { _ = sink.bodyBytes($0) } }
            sink.bodyEnded()
            return
        }
        codec.bodySink = sink
        if codec.expectsContinue && !continueSent {
            continueSent = true
            out.writeStaticString("HTTP/1.1 100 Continue\r\n\r\n")
        }
        if !inBatch {
            flush()
            resume()
        }
    }

    func resumeBody(generation: UInt32) {
        guard isCurrent(generation), bodyStreaming, bodyPaused else { return }
        bodyPaused = false
        if !inBatch { resume() }
    }

    /// Ends the connection now, mid-answer: for a response that turned out wrong after its head
    /// went out (a download whose bytes fail their checksum), so the client sees a cut
    /// response, never a complete-looking bad one.
    func abort(generation: UInt32) {
        guard isCurrent(generation) else { return }
        close()
    }

    func endStreamedBody() {
        bodyStreaming = false
        bodyPaused = false
        let sink = codec.bodySink
        codec.bodySink = nil
        sink?.bodyEnded()
    }

    /// The streamed body cannot complete: the request is over for its handler (its responder
    /// stops being current) and the sink drops what it kept.
    func failStreamedBody(_ error: HTTPParseError?) {
        bodyStreaming = false
        bodyPaused = false
        let sink = codecStorage?.bodySink
        codecStorage?.bodySink = nil
        if awaitingResponse {
            reportEnd(completed: false)
            awaitingResponse = false
            generation &+= 1
        }
        sink?.bodyFailed(error)
    }

    func dispatch() {
        requestsServed += 1
        server.stats.requests.add(1)
        generation &+= 1
        requestID = server.nextRequestID()
        awaitingResponse = true
        responseTag = 0
        responseStatus = 0
        if !codec.keepAlive || server.draining { closeAfterResponse = true }
        if tls == nil && server.configuration.redirectPlainToTLS {
            redirectToTLS()
            return
        }
        server.handler.handle(HTTPRequest(codec: codec), HTTPResponder(connection: self, generation: generation))
    }

    /// 308 to the same target on the TLS listener (the Host header's name, the TLS port).
    func redirectToTLS() {
        let request = HTTPRequest(codec: codec)
        var host = request.header("Host") ?? server.configuration.host
        if host.hasPrefix("[") {
            if let end = host.firstIndex(of: "]") { host = String(host[...end]) }
        } else if let colon = host.lastIndex(of: ":") {
            host = String(host[..<colon])
        }
        let port = server.server.tlsPort
        let authority = port == 443 ? host : "\(host):\(port)"
        var target = request.rawPath
        if let query = request.rawQuery { target += "?" + query }
        send(generation: generation, status: .permanentRedirect, contentType: nil,
             headers: [("Location", "https://\(authority)\(target)")], body: .empty)
    }

    func respondToProtocolError(_ error: HTTPParseError) {
        server.stats.protocolErrors.add(1)
        closeAfterResponse = true
        protocolFailed = true
        let (contentType, body) = server.handler.protocolErrorBody(error)
        awaitingResponse = true
        generation &+= 1
        requestID = server.nextRequestID()
        writeHead(status: error.status, contentType: contentType, framing: .length(body.count), headers: [], includeRequestID: false)
        out.writeBytes(body)
        awaitingResponse = false
        queuedResponses += 1
    }

    // MARK: - Writing responses

    /// Writes a response head; the request's own X-Request-Id is echoed when it is sane, a
    /// generated one is sent otherwise.
    enum Framing { case length(Int), chunked, none }

    func writeHead(status: HTTPStatus, contentType: StaticString?, framing: Framing, headers: [(String, String)], includeRequestID: Bool = true) {
        if let line = status.statusLine {
            out.writeStaticString(line)
        } else {
            out.writeStaticString("HTTP/1.1 ")
            out.writeDecimal(min(max(status.rawValue, 100), 999))
            out.writeStaticString(" Status\r\n")
        }
        out.writeBytes(server.loop.dateLine, count: 37)
        if let contentType {
            out.writeStaticString("Content-Type: ")
            out.writeStaticString(contentType)
            out.writeStaticString("\r\n")
        }
        switch framing {
        case .length(let contentLength):
            out.writeStaticString("Content-Length: ")
            out.writeDecimal(contentLength)
            out.writeStaticString("\r\n")
        case .chunked:
            if codec.versionMinor >= 1 {
                out.writeStaticString("Transfer-Encoding: chunked\r\n")
            } else {
                // HTTP/1.0 has no chunked coding: the end of the body is the end of the connection.
                closeAfterResponse = true
            }
        case .none:
            break
        }
        out.writeBytes(server.requestIDLinePrefix)
        if includeRequestID, let echoed = validClientRequestID() {
            out.writeBytes(echoed)
        } else {
            out.writeHex(requestID, width: 16)
        }
        out.writeStaticString("\r\n")
        if tls != nil, let hsts = server.hstsHeader {
            out.writeBytes(hsts)
        }
        for (name, value) in headers where HTTPConnection.isSafeHeader(name, value) {
            out.writeString(name)
            out.writeStaticString(": ")
            out.writeString(value)
            out.writeStaticString("\r\n")
        }
        if closeAfterResponse {
            out.writeStaticString("Connection: close\r\n\r\n")
        } else if codec.versionMinor == 0 {
            out.writeStaticString("Connection: keep-alive\r\n\r\n")
        } else {
            out.writeStaticString("\r\n")
        }
    }

    /// The client's X-Request-Id if it is 1–128 visible ASCII characters.
    func validClientRequestID() -> UnsafeRawBufferPointer? {
        let i = codec.requestIdSlot
        guard i >= 0 else { return nil }
        let s = codec.slots[i]
        let n = Int(s.valueLength)
        guard n > 0 && n <= 128 else { return nil }
        let p = codec.head.readablePointer + Int(s.valueStart)
        for j in 0..<n {
            let c = p.load(fromByteOffset: j, as: UInt8.self)
            if c < 0x21 || c > 0x7E { return nil }
        }
        return UnsafeRawBufferPointer(start: p, count: n)
    }

    /// Names must be tokens and values free of CR, LF and NUL: a handler can never split a
    /// response, whatever it echoes.
    static func isSafeHeader(_ name: String, _ value: String) -> Bool {
        if name.isEmpty { return false }
        // Over contiguous UTF-8 (the strings are native): no iterator per byte.
        var name = name
        let nameOK = name.withUTF8 { bytes in
            for c in bytes where !isTokenByte(c) { return false }
            return true
        }
        guard nameOK else { return false }
        var value = value
        return value.withUTF8 { bytes in
            for c in bytes where c < 0x20 && (c == 0x0D || c == 0x0A || c == 0x00) { return false }
            return true
        }
    }

    /// RFC 9110 tchar.
    @inline(__always)
    static func isTokenByte(_ c: UInt8) -> Bool {
        switch c {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: return true
        default: return false
        }
    }

    func isCurrent(_ generation: UInt32) -> Bool {
        phase != .closed && awaitingResponse && generation == self.generation
    }

    func send(generation: UInt32, status: HTTPStatus, contentType: StaticString?, headers: [(String, String)], body: HTTPBody) {
        guard isCurrent(generation), !streaming else { return }
        responseStatus = status.rawValue
        if !status.allowsBody {
            writeHead(status: status, contentType: nil, framing: .none, headers: headers)
            completeResponse()
            return
        }
        let omitBody = codec.method == .head
        switch body {
        case .empty:
            writeHead(status: status, contentType: contentType, framing: .length(0), headers: headers)
        case .staticString(let s):
            writeHead(status: status, contentType: contentType, framing: .length(s.utf8CodeUnitCount), headers: headers)
            if !omitBody { out.writeStaticString(s) }
        case .bytes(let b):
            writeHead(status: status, contentType: contentType, framing: .length(b.count), headers: headers)
            if !omitBody { out.writeBytes(b) }
        case .string(let s):
            var s = s
            s.withUTF8 { utf8 in
                writeHead(status: status, contentType: contentType, framing: .length(utf8.count), headers: headers)
                if !omitBody { out.writeBytes(UnsafeRawBufferPointer(utf8)) }
            }
        }
        completeResponse()
    }

    func startStream(generation: UInt32, status: HTTPStatus, contentType: StaticString?, headers: [(String, String)], contentLength: Int? = nil) {
        guard isCurrent(generation), !streaming else { return }
        streaming = true
        responseStatus = status.rawValue
        streamHasLength = contentLength != nil && status.allowsBody
        let framing: Framing = !status.allowsBody ? .none : contentLength.map { .length($0) } ?? .chunked
        writeHead(status: status, contentType: contentType, framing: framing, headers: headers)
        if !inBatch { flush() }
    }

    func writeChunk(generation: UInt32, _ bytes: UnsafeRawBufferPointer) {
        guard isCurrent(generation), streaming, bytes.count > 0, codec.method != .head else { return }
        if codec.versionMinor >= 1 && !streamHasLength {
            var n = bytes.count
            var digits = 0
            repeat { digits += 1; n >>= 4 } while n > 0
            out.writeHex(UInt64(bytes.count), width: digits)
            out.writeStaticString("\r\n")
            out.writeBytes(bytes)
            out.writeStaticString("\r\n")
        } else {
            out.writeBytes(bytes)
        }
        if !inBatch { flush() }
    }

    func finishStream(generation: UInt32) {
        guard isCurrent(generation), streaming else { return }
        if codec.versionMinor >= 1 && codec.method != .head && !streamHasLength { out.writeStaticString("0\r\n\r\n") }
        completeResponse()
    }

    /// The outstanding response is complete: out it goes (now, or at the end of the batch),
    /// and parsing resumes.
    func completeResponse() {
        reportEnd(completed: true)
        awaitingResponse = false
        streaming = false
        streamHasLength = false
        drainWaiter = nil
        if bodyStreaming {
            // Answered before its body ended (refused, or failed): the rest of the body is
            // never parsed as requests. The connection closes after this answer.
            bodyStreaming = false
            bodyPaused = false
            let sink = codec.bodySink
            codec.bodySink = nil
            protocolFailed = true
            closeAfterResponse = true
            sink?.bodyFailed(nil)
        }
        queuedResponses += 1
        if !inBatch {
            flush()
            resume()
        }
    }

    /// Continues with stashed input after an asynchronous response or after the client has
    /// drained a backlog of responses.
    func resume() {
        guard phase == .open, !awaitingResponse || bodyFlowing, !inBatch else { return }
        if readyToClose {
            if !hasPendingOutput { linger() }
            return
        }
        if !stash.isEmpty {
            let consumed = process(stash.readablePointer, stash.readableBytes)
            if phase == .closed { return }
            stash.moveReaderIndex(forwardBy: consumed)
            flush()
        }
        if stash.isEmpty, let tls, tls.isEstablished {
            // Records already decrypted inside OpenSSL would otherwise wait for new bytes.
            pumpPlaintext(tls)
            if phase != .open { return }
            flush()
        }
        if stash.isEmpty && (!awaitingResponse || bodyFlowing) {
            stash.shrinkIfEmpty(above: 64 * 1024)
            startReading()
        }
        updateDeadline()
    }

    func flush() {
        guard phase != .closed, !writing else { return }
        if let tls {
            if !out.isEmpty {
                let sealed = out.withReadableBytes { tls.write($0.baseAddress!, $0.count) }
                out.clear()
                if !sealed {
                    close()
                    return
                }
            }
            tls.drainCiphertext(into: &wire)
        } else if !out.isEmpty {
            if wire.isEmpty { swap(&out, &wire) } else { wire.writeBuffer(out); out.clear() }
        }
        if wire.isEmpty {
            afterDrain()
            return
        }
        let count = wire.readableBytes
        var buf = uv_buf_init(UnsafeMutableRawPointer(mutating: wire.readablePointer).assumingMemoryBound(to: CChar.self), UInt32(count))
        let n = Int(uv_try_write(stream, &buf, 1))
        if n == count {
            server.stats.bytesOut.add(n)
            wire.clear()
            wire.shrinkIfEmpty(above: 256 * 1024, to: 4096)
            afterDrain()
            return
        }
        if n < 0 && n != Int(UV_EAGAIN.rawValue) {
            close()
            return
        }
        let written = max(n, 0)
        server.stats.bytesOut.add(written)
        wire.moveReaderIndex(forwardBy: written)
        swap(&wire, &inFlight)
        writing = true
        buf = uv_buf_init(UnsafeMutableRawPointer(mutating: inFlight.readablePointer).assumingMemoryBound(to: CChar.self), UInt32(inFlight.readableBytes))
        let writeRequest = writeRequestStorage ?? .allocate(capacity: 1)
        writeRequestStorage = writeRequest
        writeRequest.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        let rc = uv_write(writeRequest, stream, &buf, 1) { request, status in
            HTTPConnection.from(request!.pointee.data).didWrite(status)
        }
        if rc != 0 {
            writing = false
            close()
            return
        }
        deadline = server.loop.nowMilliseconds + server.configuration.sendTimeoutMs
    }

    func didWrite(_ status: Int32) {
        writing = false
        if phase == .closed { return }
        if status < 0 {
            close()
            return
        }
        server.stats.bytesOut.add(inFlight.readableBytes)
        inFlight.clear()
        inFlight.shrinkIfEmpty(above: 256 * 1024, to: 4096)
        flush()
        if phase == .open && !writing && !awaitingResponse { resume() }
    }

    /// Runs `body` once this request's output so far is all in the kernel: how a streamed
    /// download paces itself to the client instead of queueing the whole file.
    func whenDrained(generation: UInt32, _ body: @escaping () -> Void) {
        guard isCurrent(generation) else { return }
        if !hasPendingOutput && !inBatch {
            body()
            return
        }
        drainWaiter = body
        if !inBatch { flush() }
    }

    func afterDrain() {
        queuedResponses = 0
        if let waiter = drainWaiter, !inBatch {
            drainWaiter = nil
            waiter()
        }
        if readyToClose && phase == .open && !inBatch { linger() }
    }

    /// The last response is queued: no request is outstanding or partly received.
    var readyToClose: Bool {
        closeAfterResponse && !awaitingResponse && ((codecStorage?.isIdle ?? true) || protocolFailed)
    }

    // MARK: - Timeouts and closing

    func updateDeadline() {
        guard phase == .open else { return }
        let now = server.loop.nowMilliseconds
        let c = server.configuration
        if let tls, !tls.isEstablished {
            deadline = acceptedMs + (server.tlsHandshakeTimeoutMs)
        } else if writing {
            deadline = now + c.sendTimeoutMs
        } else if awaitingResponse && !bodyFlowing {
            deadline = UInt64.max
        } else if codecStorage?.inBody ?? false {
            deadline = now + c.bodyTimeoutMs
        } else if !(codecStorage?.isIdle ?? true) {
            deadline = headStartMs + c.headerTimeoutMs
        } else {
            deadline = now + (requestsServed == 0 ? c.headerTimeoutMs : c.idleTimeoutMs)
        }
    }

    /// Called by the loop's once-a-second sweep.
    func checkDeadline(_ now: UInt64) {
        guard now >= deadline else { return }
        switch phase {
        case .closed: return
        case .lingering: close()
        case .open:
            server.stats.timeouts.add(1)
            if let tls, !tls.isEstablished {
                server.stats.tlsFailure("timeout")
                server.handler.tlsHandshakeFailed(reason: "timeout", peer: server.remoteAddress(of: self))
                close()
                return
            }
            if !(codecStorage?.isIdle ?? true) && !awaitingResponse && !writing {
                // A request was started and not finished in time.
                respondToProtocolError(HTTPParseError(.requestTimeout, "the request was not received in time"))
                flush()
                if phase == .open && !hasPendingOutput { linger() }
            } else {
                close()
            }
        }
    }

    /// The last response is out: half-close, then read and drop whatever the client still
    /// sends until it closes or the linger time runs out.
    func linger() {
        guard phase == .open else { return }
        if peerClosed {
            close()
            return
        }
        phase = .lingering
        deadline = server.loop.nowMilliseconds + server.configuration.lingerTimeoutMs
        if let tls, tls.isEstablished {
            // close_notify before the FIN, so the client knows the response was complete.
            tls.shutdown()
            tls.drainCiphertext(into: &wire)
            if !wire.isEmpty {
                var buf = uv_buf_init(UnsafeMutableRawPointer(mutating: wire.readablePointer).assumingMemoryBound(to: CChar.self), UInt32(wire.readableBytes))
                _ = uv_try_write(stream, &buf, 1)
                wire.clear()
            }
        }
        let shutdownRequest = shutdownRequestStorage ?? .allocate(capacity: 1)
        shutdownRequestStorage = shutdownRequest
        shutdownRequest.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        if uv_shutdown(shutdownRequest, stream, { request, status in
            let me = HTTPConnection.from(request!.pointee.data)
            if status < 0 { me.close() }
        }) != 0 {
            close()
            return
        }
        startReading()
    }

    /// Tells the handler the current request is over (see `HTTPHandler.responseEnded`).
    @inline(__always)
    func reportEnd(completed: Bool) {
        let elapsed = EventLoop.monotonicNanoseconds &- requestStart
        server.handler.responseEnded(HTTPResponseEnd(
            source: .connection(Unmanaged.passUnretained(self), generation: generation), loopIndex: server.loop.index,
            status: responseStatus, tag: responseTag, completed: completed, nanoseconds: elapsed))
    }

    /// Closes at once, whatever the state. The connection is released in the close callback.
    func close() {
        guard phase != .closed else { return }
        drainWaiter = nil
        if bodyStreaming {
            failStreamedBody(nil)
        } else if awaitingResponse && codecStorage != nil && !protocolFailed {
            // Abandoned: the handler still holds this request (or was streaming it).
            reportEnd(completed: false)
        }
        // OpenSSL evicts a session freed without SSL_shutdown from the session cache, so a
        // connection the client closed (or that timed out idle) could never be resumed by id.
        if let tls, tls.isEstablished { tls.shutdown() }
        phase = .closed
        reading = false
        codecStorage = nil
        server.remove(self)
        uv_close(cuv_handle_tcp(tcp)) { handle in
            Unmanaged<HTTPConnection>.fromOpaque(handle!.pointee.data).release()
        }
    }

    /// Bytes written by a handler and not yet accepted by the kernel.
    var hasPendingOutput: Bool { writing || !out.isEmpty || !wire.isEmpty }

    var isIdle: Bool {
        phase == .open && (codecStorage?.isIdle ?? true) && !awaitingResponse && !writing && out.isEmpty && wire.isEmpty
            && stash.isEmpty && (tls?.isEstablished ?? true)
    }
}
