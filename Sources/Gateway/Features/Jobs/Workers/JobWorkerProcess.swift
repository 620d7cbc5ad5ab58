import Logging
import Net
import Storage
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `aiwriter worker`: job workers without the HTTP front door, so the generation queue scales
/// apart from `serve` — the same configuration, services and AI proxy, no listening socket.
///
/// SIGTERM or SIGINT drains: no new claims, the jobs in hand finish within the drain timeout,
/// and those still running then are handed back to the queue; a second signal exits at once.
public final class JobWorkerProcess: @unchecked Sendable {
    // @unchecked: `drainDeadline` is touched only on loop 0; `signals` is atomic.

    public let configuration: GatewayConfiguration
    public let group: EventLoopGroup
    public let services: GatewayServices
    let workers: JobWorkers
    let scheduler: ScheduleRunner?
    let logger: Logger
    let signals = Atomic<Int>(0)
    var drainDeadline: ScheduledTask?

    public init(configuration: GatewayConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        group = try EventLoopGroup(loopCount: configuration.loops, threadName: "aiw-worker")
        let backend = try configuration.storage.openBackend()
        do {
            let migrator = Migrator(backend: backend)
            if configuration.shouldMigrateOnStart { _ = try migrator.migrate() } else { try migrator.requireCurrent() }
            services = try GatewayServices(configuration: configuration, store: Store(backend: backend), logger: logger)
        } catch {
            backend.shutdown()
            throw error
        }
        workers = JobsFeature.makeWorkers(services)
        scheduler = JobsFeature.makeScheduler(services, holdsIndexes: false, on: group.loops[0])
    }

    public func start() {
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for signalNumber in [SIGTERM, SIGINT] { sigaddset(&unblock, signalNumber) }
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        let loop0 = group.loops[0]
        for signalNumber in [SIGTERM, SIGINT] {
            loop0.watchSignal(signalNumber) { [unowned(unsafe) self] signal in
                if signals.add(1, ordering: .acquiringAndReleasing).newValue > 1 {
                    logger.warning("second signal: exiting at once", metadata: ["signal": .stringConvertible(signal)])
                    exit(1)
                }
                drain()
            }
        }
        workers.start(on: group)
        scheduler?.start()
        group.start()
        logger.info("working", metadata: ["slots": .stringConvertible(workers.slots), "loops": .stringConvertible(configuration.loops)])
    }

    /// Loop 0 only.
    func drain() {
        logger.info("draining", metadata: ["timeout_ms": .stringConvertible(configuration.drainTimeoutMs)])
        let group = self.group
        let logger = self.logger
        let stopped = Atomic<Bool>(false)
        let stop: @Sendable () -> Void = { if !stopped.exchange(true, ordering: .acquiringAndReleasing) { group.stop() } }
        let parts = Atomic<Int>(scheduler == nil ? 1 : 2)
        let partDone: @Sendable () -> Void = {
            if parts.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
                logger.info("drained: no job in hand")
                stop()
            }
        }
        workers.drain(partDone)
        scheduler?.drain(partDone)
        let workers = self.workers
        drainDeadline = group.loops[0].schedule(afterMilliseconds: configuration.drainTimeoutMs) {
            logger.warning("drain timeout: handing the running jobs back")
            workers.releaseAll()
            _ = group.loops[0].schedule(afterMilliseconds: 1_000) { stop() }
        }
    }

    /// Blocks until the loops have stopped.
    public func wait() {
        group.join()
        services.store.backend.shutdown()
    }
}
