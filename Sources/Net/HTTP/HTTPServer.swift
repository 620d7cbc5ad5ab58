import CUV
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An HTTP/1.1 server over every loop of a group: one listener per loop on the same port.
///
/// Lifecycle: `init`, `start` (binds; before or after the group's threads start), then
/// `drain` (graceful) or `stop` (at once).
public final class HTTPServer: @unchecked Sendable {
    // @unchecked: each HTTPLoopServer is touched only on its own loop (reached through
    // `execute`); `drainedLoops` and `onDrained` are guarded by a Mutex.

    public let configuration: HTTPServerConfiguration
    public let group: EventLoopGroup
    var loopServers: [HTTPLoopServer] = []
    let drainState = Mutex<(remaining: Int, callback: (@Sendable () -> Void)?)>((0, nil))
    public private(set) var port: Int = 0
    /// The TLS listener's port, when TLS is configured.
    public private(set) var tlsPort: Int = 0

    public init(group: EventLoopGroup, configuration: HTTPServerConfiguration, handler: any HTTPHandler) {
        self.group = group
        self.configuration = configuration
        let random = UInt64(cuv_random_u64())
        let processBits = (random & 0xFF_FFFF) << 40
        for loop in group.loops {
            let prefix = processBits | (UInt64(loop.index & 0xFF) << 32)
            loopServers.append(HTTPLoopServer(server: self, loop: loop, handler: handler, configuration: configuration, requestIDPrefix: prefix))
        }
    }

    /// Binds every loop's listener. Call before `group.start()`: libuv handles are set up
    /// from this thread while no loop runs yet. Port 0 picks a free port, shared by all loops.
    public func start() throws(NetError) {
        _ = cuv_raise_nofile_limit()
        signal(SIGPIPE, SIG_IGN)
        if let tls = configuration.tls {
            let context: TLSContext
            do {
                context = try TLSContext(configuration: tls)
            } catch {
                throw .tls(error.description)
            }
            for loopServer in loopServers { loopServer.tlsContext = context }
            if let path = tls.ticketKeyFile {
                do { try TLSTicketKeyFile.load(path) } catch { throw .tls(error.description) }
            } else {
                scheduleTicketRotation(every: tls.ticketKeyRotationSeconds)
            }
            var storage = try HTTPServer.resolve(host: configuration.host, port: configuration.tlsPort)
            for (i, loopServer) in loopServers.enumerated() {
                try HTTPServer.listen(loopServer, &storage, tls: true)
                if i == 0 {
                    tlsPort = loopServer.boundPort(tls: true)
                    HTTPServer.setPort(&storage, tlsPort)
                }
            }
        }
        guard configuration.plainListener || configuration.tls != nil else { throw .tls("no listener: the plain one is off and TLS is not configured") }
        if configuration.plainListener {
            var storage = try HTTPServer.resolve(host: configuration.host, port: configuration.port)
            for (i, loopServer) in loopServers.enumerated() {
                try HTTPServer.listen(loopServer, &storage, tls: false)
                if i == 0 {
                    port = loopServer.boundPort()
                    HTTPServer.setPort(&storage, port)
                }
            }
        }
    }

    static func listen(_ loopServer: HTTPLoopServer, _ storage: inout sockaddr_storage, tls: Bool) throws(NetError) {
        try withUnsafePointer(to: &storage) { p throws(NetError) in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { address throws(NetError) in
                try loopServer.listen(address: address, tls: tls)
            }
        }
    }

    /// Loads the certificates again and uses them for new connections; open connections keep
    /// theirs. A bad file throws and changes nothing. Callable from any thread.
    public func reloadTLS() throws(NetError) {
        guard let tls = configuration.tls else { return }
        let context: TLSContext
        do {
            context = try TLSContext(configuration: tls)
        } catch {
            throw .tls(error.description)
        }
        for loopServer in loopServers {
            let ls = UnsafeSendable(loopServer)
            loopServer.loop.execute { ls.value.tlsContext = context }
        }
    }

    /// Rotates session-ticket keys from loop 0's one-second tick. Before the loops start.
    func scheduleTicketRotation(every seconds: Int) {
        guard seconds > 0 else { return }
        var elapsed = 0
        group.loops[0].onTick {
            elapsed += 1
            if elapsed >= seconds {
                elapsed = 0
                TLSTicketKeys.shared.rotate()
            }
        }
    }

    static func resolve(host: String, port: Int) throws(NetError) -> sockaddr_storage {
        // "localhost" binds IPv4 loopback, whatever order the resolver lists its addresses in.
        try SocketAddress.resolveAll(host: host == "localhost" ? "127.0.0.1" : host, port: port)[0].storage
    }

    static func setPort(_ storage: inout sockaddr_storage, _ port: Int) {
        withUnsafeMutablePointer(to: &storage) { p in
            if p.pointee.ss_family == sa_family_t(AF_INET6) {
                p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port = UInt16(port).bigEndian }
            } else {
                p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port = UInt16(port).bigEndian }
            }
        }
    }

    /// Stops accepting, closes idle connections, lets in-flight requests finish; `onDrained`
    /// runs (on some loop) once no connection is left.
    public func drain(onDrained: @escaping @Sendable () -> Void) {
        drainState.withLock { $0 = (loopServers.count, onDrained) }
        for loopServer in loopServers {
            let ls = UnsafeSendable(loopServer)
            loopServer.loop.execute { ls.value.drain() }
        }
    }

    func loopDrained() {
        let callback = drainState.withLock { state -> (@Sendable () -> Void)? in
            state.remaining -= 1
            if state.remaining == 0 {
                defer { state.callback = nil }
                return state.callback
            }
            return nil
        }
        callback?()
    }

    /// Counters summed over every loop.
    public func stats() -> HTTPServerStatsSnapshot {
        var s = HTTPServerStatsSnapshot()
        for ls in loopServers {
            let l = ls.stats
            s.connectionsOpen += l.connectionsOpen.value
            s.connectionsAccepted += l.connectionsAccepted.value
            s.connectionsRejected += l.connectionsRejected.value
            s.requests += l.requests.value
            s.bytesIn += l.bytesIn.value
            s.bytesOut += l.bytesOut.value
            s.protocolErrors += l.protocolErrors.value
            s.timeouts += l.timeouts.value
            s.tlsHandshakes += l.tlsHandshakes.value
            s.tlsResumed += l.tlsResumed.value
            s.tls12 += l.tls12.value
            s.tls13 += l.tls13.value
            for (i, reason) in HTTPLoopStats.tlsFailureReasons.enumerated() {
                s.tlsFailures[reason, default: 0] += l.tlsFailures[i].value
            }
        }
        return s
    }
}

/// Carries a loop-confined object into a closure that `execute` runs on that same loop.
struct UnsafeSendable<T>: @unchecked Sendable {
    // @unchecked: the value is only used on the loop that owns it.
    let value: T
    init(_ value: T) { self.value = value }
}
