import Foundation
import Logging
import Net
import Storage
import Synchronization

/// What features share, built once per process and handed to each feature's `register`:
/// a feature never reaches back into the server. Later features add their services here
/// (caches, upstreams, the job queue).
public final class GatewayServices: Sendable {
    public let configuration: GatewayConfiguration
    /// The database every feature reads and writes through.
    public let store: Store
    public let limiter: RateLimiter
    public let authenticator: KeyAuthenticator
    /// Token reservations for the AI routes (a key's `tokens_per_minute`).
    public let tokenBudget: TokenBudget
    public let metrics: MetricsRegistry
    public let lifecycle: GatewayLifecycle
    public let logger: Logger
    /// Requests per client address before any key (`ip-rate`); nil when off.
    let addressPolicy: RateLimitPolicy?
    /// The collections' live indexes (`Features/Collections`).
    let collections: CollectionEngine
    /// The AI proxy's model names and their upstream targets (`Features/AIProxy`).
    let aiModels: ModelTable
    /// The AI proxy itself, with its caches: the AI routes' and the generation jobs' one path.
    let aiProxy: AIProxy
    /// The documents' read-through cache (nil: off); whoever writes a document tells it.
    let documentCache: DocumentCache?

    public init(configuration: GatewayConfiguration, store: Store, logger: Logger) throws {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        let redis = try configuration.rateLimitStore == .redis ? configuration.redisURL.map { try RedisSettings(url: $0) } : nil
        limiter = RateLimiter(redis: redis, failureMode: configuration.rateLimitOnRedisFailure, logger: logger)
        let failures = configuration.authFailureRatePerSecond
        authenticator = KeyAuthenticator(store: store, defaultRatePerSecond: configuration.defaultRatePerSecond,
                                         defaultBurst: configuration.defaultBurst,
                                         failurePolicy: RateLimitPolicy(name: "auth", ratePerSecond: failures, burst: Int64(max(10, failures * 5))))
        tokenBudget = TokenBudget(limiter: limiter)
        collections = CollectionEngine(store: store, configuration: configuration.collections,
                                       dataDirectory: configuration.storage.dataDirectory, logger: logger)
        aiModels = try ModelTable(configuration.aiProxy, environment: ProcessInfo.processInfo.environment)
        aiProxy = AIProxy.make(configuration: configuration, table: aiModels, budget: tokenBudget, store: store, logger: logger)
        documentCache = DocumentsFeature.makeCache(configuration: configuration, logger: logger)
        addressPolicy = configuration.ipPolicy
        metrics = MetricsRegistry()
        lifecycle = GatewayLifecycle()
        let limiter = self.limiter
        metrics.register("ratelimit") { limiter.writeMetrics(into: &$0) }
        if let postgres = store.backend as? PostgresBackend {
            metrics.register("database") { text in
                let pools = postgres.poolStatistics
                let series: [(String, PrometheusText.Kind, String, (PoolStatistics) -> Int)] = [
                    ("aiwriter_db_pool_connections_open", .gauge, "Open PostgreSQL connections, by pool.", { $0.open }),
                    ("aiwriter_db_pool_connections_idle", .gauge, "Idle PostgreSQL connections, by pool.", { $0.idle }),
                    ("aiwriter_db_pool_waiting", .gauge, "Units waiting for a connection, by pool.", { $0.waiting }),
                    ("aiwriter_db_pool_connect_failures_total", .counter, "Failed PostgreSQL connection attempts, by pool.", { $0.connectFailuresTotal }),
                    ("aiwriter_db_pool_acquire_timeouts_total", .counter, "Units that waited too long for a connection, by pool.", { $0.acquireTimeoutsTotal }),
                ]
                for (name, kind, help, value) in series {
                    text.family(name, kind, help)
                    for pool in pools { text.sample(name, [("role", pool.role), ("loop", String(pool.loopIndex))], value(pool)) }
                }
                if postgres.servesReadsFromStandby {
                    text.single("aiwriter_db_reads_after_position_on_primary_total", .counter,
                                "Reads carrying X-AIWriter-Read-After that the standby had not replayed yet, answered by the primary.",
                                String(postgres.readsRoutedToPrimary))
                }
            }
        }
    }

    /// The pipeline a route's access asks for, in order: per-address limit → authentication
    /// (role) → the key's limit.
    public func stages(for access: RouteAccess) -> [any RequestStage] {
        let address: [any RequestStage] = addressPolicy.map { [AddressLimitStage(limiter: limiter, policy: $0)] } ?? []
        switch access {
        case .public: return []
        case .limited: return address
        case .role(let role):
            return address + [AuthenticationStage(authenticator: authenticator, role: role), KeyLimitStage(limiter: limiter)]
        }
    }
}

/// Where the process is in its life: what readiness answers and what features that hold
/// long requests (streams) watch to finish early on a drain.
public final class GatewayLifecycle: Sendable {
    private let draining = Atomic<Bool>(false)
    private let started = Atomic<Bool>(false)
    private let startHooks = Mutex<[@Sendable (EventLoopGroup) -> Void]>([])
    private let stopHooks = Mutex<[@Sendable () -> Void]>([])
    private let drainHooks = Mutex<[(drain: @Sendable (@escaping @Sendable () -> Void) -> Void, deadline: @Sendable () -> Void)]>([])

    public init() {}

    /// Runs when the server starts, with its loops (background work a feature keeps:
    /// followers, snapshot timers, preloads). The socket-free test harness never starts.
    public func onStart(_ hook: @escaping @Sendable (EventLoopGroup) -> Void) { startHooks.withLock { $0.append(hook) } }

    /// Runs on the main thread after the loops have stopped, before the database closes
    /// (what must be written on the way out: index snapshots).
    public func onStopped(_ hook: @escaping @Sendable () -> Void) { stopHooks.withLock { $0.append(hook) } }

    /// Work the drain must wait for besides connections (jobs in hand): `drain` is told the
    /// drain began and calls its argument once done; `atDeadline` runs if the drain timeout
    /// comes first (hand the work back), shortly before the loops stop.
    public func onDrain(_ drain: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void, atDeadline: @escaping @Sendable () -> Void) {
        drainHooks.withLock { $0.append((drain, atDeadline)) }
    }

    /// Tells every drain hook; `finished` runs once all are done (at once when there are none).
    func runDrainHooks(_ finished: @escaping @Sendable () -> Void) {
        let hooks = drainHooks.withLock { $0 }
        guard !hooks.isEmpty else { return finished() }
        let remaining = Atomic<Int>(hooks.count)
        for hook in hooks {
            hook.drain { if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { finished() } }
        }
    }

    func runDeadlineHooks() { for hook in drainHooks.withLock({ $0 }) { hook.deadline() } }

    func runStartHooks(_ group: EventLoopGroup) { for hook in startHooks.withLock({ $0 }) { hook(group) } }
    func runStopHooks() { for hook in stopHooks.withLock({ $0 }) { hook() } }

    public var isDraining: Bool { draining.load(ordering: .acquiring) }
    public var isStarted: Bool { started.load(ordering: .acquiring) }

    func markStarted() { started.store(true, ordering: .releasing) }

    /// True the first time only.
    func beginDrain() -> Bool { !draining.exchange(true, ordering: .acquiringAndReleasing) }
}

/// A feature: one folder under `Features/`, whose routes register here with what they need.
public protocol GatewayFeature {
    static func register(on router: RouterBuilder, services: GatewayServices)
}
