import Logging
import Net
import Storage
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The gateway process: its loops, its HTTP server, its routes, and its lifecycle.
///
/// SIGTERM or SIGINT starts a graceful drain (`/readyz` answers 503; after `drain-delay`
/// accepting stops, idle connections close, in-flight requests finish) bounded by the drain
/// timeout; a second signal exits at once.
public final class GatewayServer: @unchecked Sendable {
    // @unchecked: the signal handles and `drainDeadline` are touched only on loop 0;
    // `signals` is a Mutex.

    public let configuration: GatewayConfiguration
    public let group: EventLoopGroup
    public let handler: GatewayHandler
    public let server: HTTPServer
    /// What every feature shares (store, limiter, authenticator, metrics, …).
    public let services: GatewayServices
    public var store: Store { services.store }
    public var limiter: RateLimiter { services.limiter }
    public var authenticator: KeyAuthenticator { services.authenticator }
    let logger: Logger
    let signals = Mutex<Int>(0)
    var drainDeadline: ScheduledTask?

    public init(configuration: GatewayConfiguration, logger: Logger, extraRoutes: (RouterBuilder, GatewayServices) -> Void = { _, _ in }) throws {
        self.configuration = configuration
        self.logger = logger
        group = try EventLoopGroup(loopCount: configuration.loops, threadName: "aiw-loop")
        let backend = try configuration.storage.openBackend()
        let migrator = Migrator(backend: backend)
        do {
            if configuration.shouldMigrateOnStart {
                let applied = try migrator.migrate()
                if !applied.isEmpty { logger.info("migrated", metadata: ["versions": .string(applied.map(String.init).joined(separator: ","))]) }
            } else {
                try migrator.requireCurrent()
            }
            services = try GatewayServices(configuration: configuration, store: Store(backend: backend), logger: logger)
        } catch {
            backend.shutdown()
            throw error
        }
        let accessLog = configuration.accessLog ? AccessLog(logger: Logger(label: "aiwriter.access")) : nil
        handler = GatewayHandler.make(services: services, loopCount: configuration.loops, accessLog: accessLog, extraRoutes: extraRoutes)
        var http = configuration.http
        http.tls?.sessionIDContext = "aiwriter"
        server = HTTPServer(group: group, configuration: http, handler: handler)
        let handler = self.handler
        let server = self.server
        let lifecycle = services.lifecycle
        services.metrics.register("http-server") { text in
            GatewayMetrics.write(server: server.stats(), into: &text)
            text.single("aiwriter_draining", .gauge, "1 while the server drains before exiting.", lifecycle.isDraining ? "1" : "0")
            handler.metrics.writeProcess(into: &text)
        }
    }

    public var port: Int { server.port }

    public var isDraining: Bool { services.lifecycle.isDraining }

    public func renderMetrics() -> String { services.metrics.render() }

    /// Binds, installs the signal handlers and starts the loop threads; returns at once.
    public func start() throws {
        try server.start()
        let loop0 = group.loops[0]
        // A parent (a test runner, a supervisor) may have left these blocked; threads created
        // after this inherit the unblocked mask.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for signalNumber in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&unblock, signalNumber) }
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        for signalNumber in [SIGTERM, SIGINT] {
            loop0.watchSignal(signalNumber) { [unowned(unsafe) self] in self.didReceive(signal: $0) }
        }
        loop0.watchSignal(SIGHUP) { [unowned(unsafe) self] _ in self.reloadCertificates() }
        let limiter = self.limiter
        let failures = authenticator.failures
        for loop in group.loops {
            loop.execute { loop.onTick { limiter.local.sweep(); failures.sweep() } }
        }
        KeyRevocationWatcher(authenticator: authenticator, group: group).start(on: loop0)
        if let path = configuration.http.tls?.ticketKeyFile {
            let logger = self.logger
            loop0.execute {
                TLSTicketKeyFile.watch(path, on: loop0) { error in
                    logger.error("tls ticket key file refused; the previous keys stay in use", metadata: ["error": .string(error.description)])
                }
            }
        }
        services.lifecycle.runStartHooks(group)
        group.start()
        services.lifecycle.markStarted()
        if configuration.http.tls != nil {
            logger.info("listening for TLS", metadata: ["host": .string(configuration.http.host), "tls_port": .stringConvertible(server.tlsPort)])
        }
        logger.info("listening", metadata: ["host": .string(configuration.http.host), "port": .stringConvertible(port), "loops": .stringConvertible(configuration.loops)])
    }

    /// SIGHUP: certificates and keys are read again for new connections; a file that does
    /// not load is logged and the old certificate keeps serving.
    public func reloadCertificates() {
        guard configuration.http.tls != nil else { return }
        do {
            try server.reloadTLS()
            logger.info("tls certificates reloaded")
        } catch {
            logger.error("tls reload refused; the previous certificates stay in use", metadata: ["error": .string("\(error)")])
        }
    }

    public var tlsPort: Int { server.tlsPort }

    /// Blocks until the loops have stopped.
    public func wait() {
        group.join()
        services.lifecycle.runStopHooks()
        store.backend.shutdown()
    }

    /// Starts a graceful drain; callable from any thread.
    public func beginDrain() {
        group.loops[0].execute { [self] in self.drainOnLoop() }
    }

    func didReceive(signal: Int32) {
        let count = signals.withLock { count -> Int in
            count += 1
            return count
        }
        if count > 1 {
            logger.warning("second signal: exiting at once", metadata: ["signal": .stringConvertible(signal)])
            exit(1)
        }
        logger.info("draining", metadata: ["signal": .stringConvertible(signal), "timeout_ms": .stringConvertible(configuration.drainTimeoutMs)])
        drainOnLoop()
    }

    /// Loop 0 only. The loops stop once every connection has closed and every drain hook
    /// (jobs in hand) is done, or at the drain timeout: then the hooks hand their work back,
    /// and the loops stop a second later.
    func drainOnLoop() {
        guard services.lifecycle.beginDrain() else { return }
        guard configuration.drainDelayMs > 0 else { return closeForDrain() }
        // Still accepting and serving: only /readyz has changed, so the balancer stops sending
        // new requests here before any connection it holds is closed under it.
        logger.info("drain delay: not ready, still serving", metadata: ["delay_ms": .stringConvertible(configuration.drainDelayMs)])
        drainDeadline = group.loops[0].schedule(afterMilliseconds: configuration.drainDelayMs) { [self] in closeForDrain() }
    }

    /// Loop 0 only: stop accepting, close idle connections, wait for the in-flight ones.
    private func closeForDrain() {
        let lifecycle = services.lifecycle
        let group = self.group
        let logger = self.logger
        let stopped = Atomic<Bool>(false)
        let stop: @Sendable () -> Void = { if !stopped.exchange(true, ordering: .acquiringAndReleasing) { group.stop() } }
        let waiting = Atomic<Int>(2)
        let partDone: @Sendable () -> Void = { if waiting.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { stop() } }
        server.drain {
            logger.info("drained: every connection closed")
            partDone()
        }
        lifecycle.runDrainHooks(partDone)
        let server = self.server
        drainDeadline = group.loops[0].schedule(afterMilliseconds: configuration.drainTimeoutMs) {
            logger.warning("drain timeout: closing the connections still open", metadata: ["open": .stringConvertible(server.stats().connectionsOpen)])
            lifecycle.runDeadlineHooks()
            _ = group.loops[0].schedule(afterMilliseconds: 1_000) { stop() }
        }
    }

    /// Stops at once (tests, embedding).
    public func stop() {
        group.stop()
    }
}
