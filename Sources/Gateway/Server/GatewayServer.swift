import Logging
import Net
import Storage
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The gateway process: its loops, its HTTP server, its routes, and its lifecycle.
///
/// SIGTERM or SIGINT starts a graceful drain (stop accepting, `/readyz` answers 503, idle
/// connections close, in-flight requests finish) bounded by the drain timeout; a second signal
/// exits at once.
public final class GatewayServer: @unchecked Sendable {
    // @unchecked: the signal handles are touched only on loop 0; `state` is a Mutex.

    public let configuration: GatewayConfiguration
    public let group: EventLoopGroup
    public let handler: GatewayHandler
    public let server: HTTPServer
    /// The database every route reads and writes through.
    public let store: Store
    public let limiter: RateLimiter
    public let authenticator: Authenticator
    let logger: Logger
    let state = Mutex<(draining: Bool, signals: Int)>((false, 0))
    var drainDeadline: ScheduledTask?
    /// Set once start() has run; routes reach the server through it.
    let reference = GatewayReference()

    public init(configuration: GatewayConfiguration, logger: Logger, extraRoutes: (RouterBuilder) -> Void = { _ in }) throws {
        self.configuration = configuration
        self.logger = logger
        group = try EventLoopGroup(loopCount: configuration.loops)
        let backend = try configuration.storage.openBackend()
        let migrator = Migrator(backend: backend)
        do {
            if configuration.shouldMigrateOnStart {
                let applied = try migrator.migrate()
                if !applied.isEmpty { logger.info("migrated", metadata: ["versions": .string(applied.map(String.init).joined(separator: ","))]) }
            } else {
                try migrator.requireCurrent()
            }
        } catch {
            backend.shutdown()
            throw error
        }
        store = Store(backend: backend)
        let redis = try configuration.rateLimitStore == .redis ? configuration.redisURL.map { try RedisSettings(url: $0) } : nil
        limiter = RateLimiter(redis: redis, failureMode: configuration.rateLimitOnRedisFailure, logger: logger)
        let failures = configuration.authFailureRatePerSecond
        authenticator = Authenticator(store: store, limiter: limiter, defaultRatePerSecond: configuration.defaultRatePerSecond,
                                      defaultBurst: configuration.defaultBurst,
                                      failurePolicy: RateLimitPolicy(name: "auth", ratePerSecond: failures, burst: Int64(max(10, failures * 5))),
                                      addressPolicy: configuration.ipPolicy)
        let builder = RouterBuilder()
        let reference = self.reference
        OperationsRoutes.register(on: builder) { reference.server }
        KeyRoutes.register(on: builder, auth: authenticator)
        extraRoutes(builder)
        let accessLog = configuration.accessLog ? AccessLog(logger: Logger(label: "aiwriter.access")) : nil
        handler = GatewayHandler(router: builder.build(), loopCount: configuration.loops, accessLog: accessLog,
                                 trustedProxies: configuration.trustedProxies, logger: logger)
        server = HTTPServer(group: group, configuration: configuration.http, handler: handler)
    }

    public var port: Int { server.port }

    public var isDraining: Bool { state.withLock { $0.draining } }

    public func renderMetrics() -> String {
        var text = handler.metrics.render(server: server.stats(), draining: isDraining)
        text += """
            # HELP aiwriter_ratelimit_redis_fallbacks_total Rate-limit decisions made locally because Redis failed.
            # TYPE aiwriter_ratelimit_redis_fallbacks_total counter
            aiwriter_ratelimit_redis_fallbacks_total \(limiter.fallbacks.load(ordering: .relaxed))
            # HELP aiwriter_ratelimit_redis_refusals_total Requests answered 503 because Redis failed (closed mode).
            # TYPE aiwriter_ratelimit_redis_refusals_total counter
            aiwriter_ratelimit_redis_refusals_total \(limiter.refusals.load(ordering: .relaxed))
            # HELP aiwriter_ratelimit_redis_degraded 1 while Redis rate limiting is failing.
            # TYPE aiwriter_ratelimit_redis_degraded gauge
            aiwriter_ratelimit_redis_degraded \(limiter.isDegraded ? 1 : 0)

            """
        return text
    }

    /// Binds, installs the signal handlers and starts the loop threads; returns at once.
    public func start() throws {
        try server.start()
        reference.set(self)
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
        group.start()
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
        store.backend.shutdown()
    }

    /// Starts a graceful drain; callable from any thread.
    public func beginDrain() {
        group.loops[0].execute { [self] in self.drainOnLoop() }
    }

    func didReceive(signal: Int32) {
        let count = state.withLock { s -> Int in
            s.signals += 1
            return s.signals
        }
        if count > 1 {
            logger.warning("second signal: exiting at once", metadata: ["signal": .stringConvertible(signal)])
            exit(1)
        }
        logger.info("draining", metadata: ["signal": .stringConvertible(signal), "timeout_ms": .stringConvertible(configuration.drainTimeoutMs)])
        drainOnLoop()
    }

    /// Loop 0 only.
    func drainOnLoop() {
        let first = state.withLock { s -> Bool in
            defer { s.draining = true }
            return !s.draining
        }
        guard first else { return }
        let group = self.group
        let logger = self.logger
        server.drain {
            logger.info("drained: every connection closed")
            group.stop()
        }
        let server = self.server
        drainDeadline = group.loops[0].schedule(afterMilliseconds: configuration.drainTimeoutMs) {
            logger.warning("drain timeout: closing the connections still open", metadata: ["open": .stringConvertible(server.stats().connectionsOpen)])
            group.stop()
        }
    }

    /// Stops at once (tests, embedding).
    public func stop() {
        group.stop()
    }
}

/// Lets routes registered before the server exists reach it once it has started.
final class GatewayReference: Sendable {
    let value = Mutex<GatewayServer?>(nil)
    var server: GatewayServer? { value.withLock { $0 } }
    func set(_ server: GatewayServer) { value.withLock { $0 = server } }
}
