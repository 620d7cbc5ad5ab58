import Net
import Storage

/// The effective configuration of one gateway process. Every default serves one user on one
/// machine; `ConfigurationLoader` layers a file, `AIWRITER_*` variables and flags on top.
public struct GatewayConfiguration: Sendable {
    public var http = HTTPServerConfiguration()
    /// Event loops (threads serving connections); defaults to the number of cores.
    public var loops = EventLoopGroup.coreCount
    /// How long a SIGTERM waits for in-flight requests before closing what is left.
    public var drainTimeoutMs: UInt64 = 30_000
    /// How long a SIGTERM keeps serving, with `/readyz` already 503, before it stops accepting:
    /// time for a load balancer's health check to take the replica out, so no request races
    /// the close of an idle balancer connection.
    public var drainDelayMs: UInt64 = 0
    public var accessLog = false
    public var logLevel = "info"
    /// The database: SQLite under `storage.dataDirectory` unless a PostgreSQL URL is set.
    public var storage = StoreConfiguration()
    public var collections = CollectionsConfiguration()
    public var aiProxy = AIProxyConfiguration()
    public var staticAssets = StaticAssetsConfiguration()
    public var documents = DocumentsConfiguration()
    public var files = FilesConfiguration()
    public var jobs = JobsConfiguration()
    /// Whether `serve` applies pending migrations before it listens.
    public var migrateOnStart = MigrationPolicy.auto
    /// Where rate-limit state lives: this process, or Redis shared by every replica.
    public var rateLimitStore = RateLimiter.Store.local
    public var redisURL: String?
    public var rateLimitOnRedisFailure = RateLimiter.FailureMode.open
    /// Limits for keys that do not carry their own.
    public var defaultRatePerSecond = 100.0
    public var defaultBurst: Int64 = 200
    /// Failed authentications allowed per client address.
    public var authFailureRatePerSecond = 10.0
    /// Load balancers whose X-Forwarded-For names the client (none by default).
    public var trustedProxies = TrustedProxies()
    /// Requests per client address on the `/v1` routes, checked before the key (off by default).
    public var ipRatePerSecond: Double?
    /// Burst of the per-address limit; default: one second's worth, at least 10.
    public var ipBurst: Int64?

    /// The per-address policy, when one is configured.
    public var ipPolicy: RateLimitPolicy? {
        ipRatePerSecond.map { RateLimitPolicy(name: "ip", ratePerSecond: $0, burst: ipBurst ?? max(10, Int64($0.rounded(.up)))) }
    }
    /// TLS, assembled into `http.tls` by `resolveTLS()`.
    public var tlsCertificates: [String] = []
    public var tlsKeys: [String] = []
    public var tlsMinimumVersion = TLSConfiguration.Version.tls12
    public var hstsMaxAgeSeconds = 63_072_000
    public var tlsHandshakeTimeoutMs: UInt64 = 10_000
    /// Session-ticket keys shared by every replica (`TLSTicketKeyFile`); nil: per process.
    public var tlsTicketKeyFile: String?

    public init() {}

    /// `auto` migrates the embedded SQLite store (nothing else can) but leaves PostgreSQL to
    /// an explicit `aiwriter migrate`, so replicas never race a schema change on a shared database.
    public enum MigrationPolicy: String, Sendable {
        case auto, always = "true", never = "false"
    }

    public var shouldMigrateOnStart: Bool {
        switch migrateOnStart {
        case .auto: return !storage.isPostgres
        case .always: return true
        case .never: return false
        }
    }

    /// Builds `http.tls` from the TLS keys: certificates and keys pair up in order.
    public mutating func resolveTLS() throws(ConfigurationLoader.ConfigurationError) {
        guard !tlsCertificates.isEmpty || !tlsKeys.isEmpty else {
            http.tls = nil
            if http.redirectPlainToTLS {
                throw ConfigurationLoader.ConfigurationError(description: "tls-redirect needs tls-cert and tls-key")
            }
            if !http.plainListener {
                throw ConfigurationLoader.ConfigurationError(description: "plain-listener false needs tls-cert and tls-key: there would be no listener")
            }
            return
        }
        guard tlsCertificates.count == tlsKeys.count else {
            throw ConfigurationLoader.ConfigurationError(description: "tls-cert lists \(tlsCertificates.count) files but tls-key lists \(tlsKeys.count): give one key per certificate")
        }
        var tls = TLSConfiguration()
        tls.certificates = Array(zip(tlsCertificates, tlsKeys)).map { (chain: $0.0, key: $0.1) }
        tls.minimumVersion = tlsMinimumVersion
        tls.hstsMaxAgeSeconds = hstsMaxAgeSeconds
        tls.handshakeTimeoutMs = tlsHandshakeTimeoutMs
        tls.ticketKeyFile = tlsTicketKeyFile
        http.tls = tls
    }
}
