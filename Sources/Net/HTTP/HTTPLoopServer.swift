import CUV
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The part of an HTTP server that lives on one loop: its listening socket (one per loop, all
/// on the same port through SO_REUSEPORT), its connections, its read buffer and its counters.
@usableFromInline
final class HTTPLoopServer {
    static let readBufferSize = 64 * 1024

    unowned(unsafe) let server: HTTPServer
    let loop: EventLoop
    let handler: any HTTPHandler
    let configuration: HTTPServerConfiguration
    let listener: UnsafeMutablePointer<uv_tcp_t>
    let tlsListener: UnsafeMutablePointer<uv_tcp_t>
    /// One read buffer serves every connection of the loop: input is parsed (and copied where
    /// it must outlive the callback) before the next read can happen.
    let readBuffer: UnsafeMutableRawPointer
    /// Decrypted input of TLS connections, consumed the same way.
    let plaintextBuffer: UnsafeMutableRawPointer
    /// Replaced (on this loop) when certificates are reloaded; connections keep the context
    /// they were accepted with.
    var tlsContext: TLSContext?
    let hstsHeader: [UInt8]?
    let tlsHandshakeTimeoutMs: UInt64
    var tlsListening = false
    let stats = HTTPLoopStats()
    var connections: [HTTPConnection] = []
    var listening = false
    var draining = false
    var reportedDrained = false
    var requestCounter: UInt64 = 0
    /// Parsers not in use by any connection (see HTTPConnection.codec).
    var codecPool: [HTTPRequestParser] = []
    static let codecPoolLimit = 1024
    let requestIDPrefix: UInt64
    /// "<request-id header>: ", written before every response's id.
    let requestIDLinePrefix: [UInt8]

    init(server: HTTPServer, loop: EventLoop, handler: any HTTPHandler, configuration: HTTPServerConfiguration, requestIDPrefix: UInt64) {
        self.server = server
        self.loop = loop
        self.handler = handler
        self.configuration = configuration
        self.requestIDPrefix = requestIDPrefix
        requestIDLinePrefix = Array((configuration.requestIDHeader + ": ").utf8)
        listener = .allocate(capacity: 1)
        tlsListener = .allocate(capacity: 1)
        readBuffer = .allocate(byteCount: HTTPLoopServer.readBufferSize, alignment: 64)
        plaintextBuffer = .allocate(byteCount: HTTPLoopServer.readBufferSize, alignment: 64)
        let hsts = configuration.tls?.hstsMaxAgeSeconds ?? 0
        hstsHeader = hsts > 0 ? Array("Strict-Transport-Security: max-age=\(hsts)\r\n".utf8) : nil
        tlsHandshakeTimeoutMs = configuration.tls?.handshakeTimeoutMs ?? 10_000
    }

    @inline(__always)
    func takeCodec() -> HTTPRequestParser {
        if let codec = codecPool.popLast() { return codec }
        let codec = HTTPRequestParser(limits: configuration.limits, requestIDHeader: configuration.requestIDHeader)
        let handler = self.handler
        codec.streamedBodyLimit = { handler.streamedBodyLimit($0) }
        return codec
    }

    @inline(__always)
    func returnCodec(_ codec: HTTPRequestParser) {
        // A parser that held a large request gives its memory back before being pooled.
        codec.releaseLargeBuffers()
        if codecPool.count < HTTPLoopServer.codecPoolLimit { codecPool.append(codec) }
    }

    /// Request ids: 24 random bits per process, 8 bits of loop index, 32 bits of counter.
    @inline(__always)
    func nextRequestID() -> UInt64 {
        requestCounter &+= 1
        return requestIDPrefix | (requestCounter & 0xFFFF_FFFF)
    }

    /// Binds and listens (the TLS listener when `tls`). Runs before the loop's thread starts.
    func listen(address: UnsafePointer<sockaddr>, tls: Bool) throws(NetError) {
        let handle = tls ? tlsListener : listener
        let family = UInt32(address.pointee.sa_family)
        var rc = uv_tcp_init_ex(loop.loop, handle, family)
        guard rc == 0 else { throw .uv("uv_tcp_init_ex", rc) }
        handle.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        rc = cuv_set_reuseport(handle)
        guard rc == 0 else { throw .uv("setsockopt(SO_REUSEPORT)", rc) }
        rc = uv_tcp_bind(handle, address, 0)
        guard rc == 0 else { throw .uv("uv_tcp_bind", rc) }
        rc = uv_listen(cuv_stream(handle), configuration.backlog) { stream, status in
            let me = Unmanaged<HTTPLoopServer>.fromOpaque(stream!.pointee.data).takeUnretainedValue()
            if status == 0 { me.accept(tls: UnsafeMutableRawPointer(stream!) == UnsafeMutableRawPointer(me.tlsListener)) }
        }
        guard rc == 0 else { throw .uv("uv_listen", rc) }
        if tls { tlsListening = true } else { listening = true }
        if !sweepInstalled {
            sweepInstalled = true
            loop.onTick { [unowned(unsafe) self] in self.sweep() }
            loop.onStop { [unowned(unsafe) self] in self.closeEverything() }
        }
    }

    var sweepInstalled = false

    /// The port the listener is bound to.
    func boundPort(tls: Bool = false) -> Int {
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        let handle = tls ? tlsListener : listener
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { uv_tcp_getsockname(handle, $0, &length) }
        }
        guard rc == 0 else { return -1 }
        return withUnsafePointer(to: &storage) { p -> Int in
            if p.pointee.ss_family == sa_family_t(AF_INET6) {
                return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            }
            return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
    }

    func accept(tls: Bool) {
        let connection = HTTPConnection(server: self)
        uv_tcp_init(loop.loop, connection.tcp)
        let retained = Unmanaged.passRetained(connection).toOpaque()
        connection.tcp.pointee.data = retained
        guard uv_accept(cuv_stream(tls ? tlsListener : listener), connection.stream) == 0 else {
            connection.phase = .closed
            uv_close(cuv_handle_tcp(connection.tcp)) { handle in
                Unmanaged<HTTPConnection>.fromOpaque(handle!.pointee.data).release()
            }
            return
        }
        if connections.count >= configuration.maxConnectionsPerLoop || draining {
            stats.connectionsRejected.add(1)
            connection.phase = .closed
            uv_close(cuv_handle_tcp(connection.tcp)) { handle in
                Unmanaged<HTTPConnection>.fromOpaque(handle!.pointee.data).release()
            }
            return
        }
        if tls {
            guard let context = tlsContext, let session = TLSSession(context: context) else {
                connection.phase = .closed
                uv_close(cuv_handle_tcp(connection.tcp)) { handle in
                    Unmanaged<HTTPConnection>.fromOpaque(handle!.pointee.data).release()
                }
                return
            }
            connection.tls = session
        }
        uv_tcp_nodelay(connection.tcp, 1)
        connection.acceptedMs = loop.nowMilliseconds
        connection.listIndex = connections.count
        connections.append(connection)
        stats.connectionsAccepted.add(1)
        stats.connectionsOpen.add(1)
        connection.updateDeadline()
        connection.startReading()
    }

    func remove(_ connection: HTTPConnection) {
        let i = connection.listIndex
        guard i < connections.count, connections[i] === connection else { return }
        let last = connections.removeLast()
        if last !== connection {
            connections[i] = last
            last.listIndex = i
        }
        stats.connectionsOpen.add(-1)
        if draining && connections.isEmpty { reportDrained() }
    }

    /// Tells the server this loop has no connection left, once.
    func reportDrained() {
        guard !reportedDrained else { return }
        reportedDrained = true
        server.loopDrained()
    }

    /// Once a second: close connections whose deadline has passed.
    func sweep() {
        let now = loop.nowMilliseconds
        var i = 0
        while i < connections.count {
            let connection = connections[i]
            connection.checkDeadline(now)
            connection.releaseIdleMemory()
            // A closed connection was swapped out of slot i; look at the same slot again.
            if i < connections.count && connections[i] === connection { i += 1 }
        }
    }

    func stopListening() {
        if listening {
            listening = false
            uv_close(cuv_handle_tcp(listener)) { handle in
                handle!.withMemoryRebound(to: uv_tcp_t.self, capacity: 1) { $0.deallocate() }
            }
        }
        if tlsListening {
            tlsListening = false
            uv_close(cuv_handle_tcp(tlsListener)) { handle in
                handle!.withMemoryRebound(to: uv_tcp_t.self, capacity: 1) { $0.deallocate() }
            }
        }
    }

    /// Graceful drain: no new connections, idle ones closed now, busy ones after their
    /// current response (which carries `Connection: close`).
    func drain() {
        draining = true
        stopListening()
        for connection in connections {
            if connection.isIdle {
                connection.close()
            } else {
                connection.closeAfterResponse = true
            }
        }
        // close() swaps entries out while iterating; sweep the rest again.
        for connection in connections where connection.isIdle { connection.close() }
        if connections.isEmpty { reportDrained() }
    }

    func closeEverything() {
        stopListening()
        while let connection = connections.last { connection.close() }
    }

    /// The peer's IP address alone (no port): the key for per-client limits.
    /// Asked once per connection (a per-request limit by address must not cost a syscall).
    func remoteIP(of connection: HTTPConnection) -> String {
        if let cached = connection.cachedRemoteIP { return cached }
        let address = remoteAddress(of: connection)
        let ip: String
        if address.hasPrefix("["), let end = address.firstIndex(of: "]") {
            ip = String(address[address.index(after: address.startIndex)..<end])
        } else if let colon = address.lastIndex(of: ":") {
            ip = String(address[..<colon])
        } else {
            ip = address
        }
        if address != "-" { connection.cachedRemoteIP = ip }
        return ip
    }

    func remoteAddress(of connection: HTTPConnection) -> String {
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { uv_tcp_getpeername(connection.tcp, $0, &length) }
        }
        guard rc == 0 else { return "-" }
        var name = [CChar](repeating: 0, count: 64)
        return withUnsafePointer(to: &storage) { p -> String in
            if p.pointee.ss_family == sa_family_t(AF_INET6) {
                return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    uv_ip6_name($0, &name, 64)
                    return "[\(String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))]:\(UInt16(bigEndian: $0.pointee.sin6_port))"
                }
            }
            return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                uv_ip4_name($0, &name, 64)
                return "\(String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)):\(UInt16(bigEndian: $0.pointee.sin_port))"
            }
        }
    }
}
