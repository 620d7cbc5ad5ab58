import Foundation
import Net
import Storage
import Yams

/// Builds a `GatewayConfiguration` from, in rising precedence: defaults, a JSON or YAML file
/// (by extension: `.yaml`/`.yml`, anything else is JSON),
/// `AIWRITER_*` environment variables, and command-line flags. Each key has one name used by
/// all three (`max-body-bytes`, `AIWRITER_MAX_BODY_BYTES`, `--max-body-bytes`). Unknown keys
/// and unparsable values are errors naming the key and where it came from: a typo never
/// silently falls back to a default.
public enum ConfigurationLoader {
    public enum Source: String, Sendable { case defaults = "default", file, environment, flag }

    public struct Entry: Sendable {
        public let key: String
        public let value: String
        public let source: Source
        public let help: String
    }

    public struct ConfigurationError: Error, CustomStringConvertible {
        public let description: String
    }

    struct Key: Sendable {
        let name: String
        let help: String
        let secret: Bool
        let read: @Sendable (GatewayConfiguration) -> String
        let apply: @Sendable (inout GatewayConfiguration, String) throws -> Void

        init(_ name: String, _ help: String, secret: Bool = false,
             read: @escaping @Sendable (GatewayConfiguration) -> String,
             apply: @escaping @Sendable (inout GatewayConfiguration, String) throws -> Void) {
            self.name = name
            self.help = help
            self.secret = secret
            self.read = read
            self.apply = apply
        }
    }

    static let keys: [Key] = [
        Key("host", "Address to listen on (IP literal or host name)",
            read: { $0.http.host }, apply: { c, v in c.http.host = v }),
        Key("port", "TCP port to listen on (0 picks a free one)",
            read: { String($0.http.port) }, apply: { c, v in c.http.port = try integer(v, in: 0...65535) }),
        Key("loops", "Event loops (threads); default: number of cores",
            read: { String($0.loops) }, apply: { c, v in c.loops = try integer(v, in: 1...1024) }),
        Key("max-header-bytes", "Request line + headers limit (431 above it)",
            read: { String($0.http.limits.maxHeadBytes) }, apply: { c, v in c.http.limits.maxHeadBytes = try size(v, in: 256...(1 << 24)) }),
        Key("max-body-bytes", "Request body limit (413 above it)",
            read: { String($0.http.limits.maxBodyBytes) }, apply: { c, v in c.http.limits.maxBodyBytes = try size(v, in: 0...(1 << 34)) }),
        Key("max-header-count", "Header field lines per request (431 above it)",
            read: { String($0.http.limits.maxHeaderCount) }, apply: { c, v in c.http.limits.maxHeaderCount = try integer(v, in: 1...10_000) }),
        Key("header-timeout", "Time to receive a request's line and headers (kills slowloris)",
            read: { duration($0.http.headerTimeoutMs) }, apply: { c, v in c.http.headerTimeoutMs = try milliseconds(v) }),
        Key("body-timeout", "Longest silence between two reads of a request body",
            read: { duration($0.http.bodyTimeoutMs) }, apply: { c, v in c.http.bodyTimeoutMs = try milliseconds(v) }),
        Key("idle-timeout", "Idle keep-alive connections are closed after this",
            read: { duration($0.http.idleTimeoutMs) }, apply: { c, v in c.http.idleTimeoutMs = try milliseconds(v) }),
        Key("send-timeout", "A client that reads none of its response for this long is dropped",
            read: { duration($0.http.sendTimeoutMs) }, apply: { c, v in c.http.sendTimeoutMs = try milliseconds(v) }),
        Key("drain-timeout", "On SIGTERM, how long in-flight requests may take before exit",
            read: { duration($0.drainTimeoutMs) }, apply: { c, v in c.drainTimeoutMs = try milliseconds(v) }),
        Key("drain-delay", "On SIGTERM, how long to keep serving with /readyz at 503 before accepting stops (a balancer's check interval or two)",
            read: { duration($0.drainDelayMs) }, apply: { c, v in c.drainDelayMs = try milliseconds(v) }),
        Key("max-pipelined", "Responses queued per connection before reading pauses",
            read: { String($0.http.maxPipelinedResponses) }, apply: { c, v in c.http.maxPipelinedResponses = try integer(v, in: 1...100_000) }),
        Key("max-connections-per-loop", "Open connections per loop; more are closed at accept",
            read: { String($0.http.maxConnectionsPerLoop) }, apply: { c, v in c.http.maxConnectionsPerLoop = try integer(v, in: 1...10_000_000) }),
        Key("access-log", "One JSON line per request on standard error",
            read: { String($0.accessLog) }, apply: { c, v in c.accessLog = try boolean(v) }),
        Key("log-level", "trace, debug, info, notice, warning, error or critical",
            read: { $0.logLevel }, apply: { c, v in
                guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(v) else {
                    throw ConfigurationError(description: "must be one of trace, debug, info, notice, warning, error, critical")
                }
                c.logLevel = v
            }),
        Key("tls-port", "TLS listener port (when tls-cert is set; 0 picks a free one)",
            read: { String($0.http.tlsPort) }, apply: { c, v in c.http.tlsPort = try integer(v, in: 0...65535) }),
        Key("tls-cert", "Certificate chain PEM files, comma-separated (the first is the default; others by SNI)",
            read: { $0.tlsCertificates.joined(separator: ",") }, apply: { c, v in c.tlsCertificates = list(v) }),
        Key("tls-key", "Private key PEM files, comma-separated, one per tls-cert", secret: false,
            read: { $0.tlsKeys.joined(separator: ",") }, apply: { c, v in c.tlsKeys = list(v) }),
        Key("tls-min-version", "1.2 (Mozilla intermediate) or 1.3 (modern)",
            read: { $0.tlsMinimumVersion.rawValue }, apply: { c, v in
                guard let version = TLSConfiguration.Version(rawValue: v) else { throw ConfigurationError(description: "must be 1.2 or 1.3") }
                c.tlsMinimumVersion = version
            }),
        Key("hsts-max-age", "Strict-Transport-Security max-age on TLS responses in seconds (0: none)",
            read: { String($0.hstsMaxAgeSeconds) }, apply: { c, v in c.hstsMaxAgeSeconds = try integer(v, in: 0...(10 * 365 * 86_400)) }),
        Key("tls-handshake-timeout", "From accept until the TLS handshake completes",
            read: { duration($0.tlsHandshakeTimeoutMs) }, apply: { c, v in c.tlsHandshakeTimeoutMs = try milliseconds(v) }),
        Key("tls-ticket-key-file", "Session-ticket keys shared by every replica: hex lines, oldest first; the next-to-newest seals, all resume; re-read when it changes",
            read: { $0.tlsTicketKeyFile ?? "none" }, apply: { c, v in c.tlsTicketKeyFile = v.isEmpty || v == "none" ? nil : v }),
        Key("plain-listener", "false serves TLS only (needs tls-cert)",
            read: { String($0.http.plainListener) }, apply: { c, v in c.http.plainListener = try boolean(v) }),
        Key("tls-redirect", "Answer plain-HTTP requests 308 with their https:// URL",
            read: { String($0.http.redirectPlainToTLS) }, apply: { c, v in c.http.redirectPlainToTLS = try boolean(v) }),
        Key("data-dir", "Where the embedded database and snapshots live",
            read: { $0.storage.dataDirectory }, apply: { c, v in c.storage.dataDirectory = v }),
        Key("database-url", "postgres:// URL of the primary database; empty: SQLite under data-dir",
            read: { maskedURL($0.storage.databaseURL) }, apply: { c, v in c.storage.databaseURL = try databaseURL(v) }),
        Key("database-replica-url", "postgres:// URL of a read replica for read-only queries",
            read: { maskedURL($0.storage.replicaURL) }, apply: { c, v in c.storage.replicaURL = try databaseURL(v) }),
        Key("database-pool-size", "PostgreSQL connections per event loop, at most",
            read: { String($0.storage.maximumConnections) }, apply: { c, v in c.storage.maximumConnections = try integer(v, in: 1...1000) }),
        Key("database-pool-min", "PostgreSQL connections per event loop kept open",
            read: { String($0.storage.minimumConnections) }, apply: { c, v in c.storage.minimumConnections = try integer(v, in: 0...1000) }),
        Key("statement-timeout", "Longest a database statement may run (PostgreSQL statement_timeout, SQLite busy wait)",
            read: { duration(UInt64($0.storage.statementTimeoutMilliseconds)) },
            apply: { c, v in c.storage.statementTimeoutMilliseconds = Int(try milliseconds(v)) }),
        Key("database-connect-timeout", "Longest a PostgreSQL connection attempt may take",
            read: { duration(UInt64($0.storage.connectTimeoutMilliseconds)) },
            apply: { c, v in c.storage.connectTimeoutMilliseconds = Int(try milliseconds(v)) }),
        Key("sqlite-synchronous", "normal (survives a crash of the process) or full (also a power loss)",
            read: { $0.storage.sqliteSynchronousFull ? "full" : "normal" }, apply: { c, v in
                guard v == "normal" || v == "full" else { throw ConfigurationError(description: "must be normal or full") }
                c.storage.sqliteSynchronousFull = v == "full"
            }),
        Key("rate-limit-store", "local (this process) or redis (shared by every replica; needs redis-url)",
            read: { $0.rateLimitStore.rawValue }, apply: { c, v in
                guard let store = RateLimiter.Store(rawValue: v) else { throw ConfigurationError(description: "must be local or redis") }
                c.rateLimitStore = store
            }),
        Key("redis-url", "redis://[:password@]host:port/db for shared rate limits and the shared AI answer cache",
            read: { maskedURL($0.redisURL) }, apply: { c, v in
                if v.isEmpty { c.redisURL = nil; return }
                do { _ = try RedisSettings(url: v) } catch let error as StoreError { throw ConfigurationError(description: error.message) }
                c.redisURL = v
            }),
        Key("rate-limit-on-redis-failure", "open (fall back to local limits) or closed (answer 503)",
            read: { $0.rateLimitOnRedisFailure.rawValue }, apply: { c, v in
                guard let mode = RateLimiter.FailureMode(rawValue: v) else { throw ConfigurationError(description: "must be open or closed") }
                c.rateLimitOnRedisFailure = mode
            }),
        Key("default-rate", "Requests per key for keys without their own limit, e.g. 100/s or 6000/m",
            read: { "\($0.defaultRatePerSecond)/s" }, apply: { c, v in
                guard let rate = RateLimitPolicy.parseRate(v) else { throw ConfigurationError(description: "must look like 100/s, 6000/m or 10/h") }
                c.defaultRatePerSecond = rate
            }),
        Key("default-burst", "Burst for keys without their own",
            read: { String($0.defaultBurst) }, apply: { c, v in c.defaultBurst = Int64(try integer(v, in: 1...10_000_000)) }),
        Key("auth-failure-rate", "Failed authentications allowed per client address, e.g. 10/s",
            read: { "\($0.authFailureRatePerSecond)/s" }, apply: { c, v in
                guard let rate = RateLimitPolicy.parseRate(v) else { throw ConfigurationError(description: "must look like 10/s") }
                c.authFailureRatePerSecond = rate
            }),
        Key("ip-rate", "Requests per client address on /v1 before the key is looked at, e.g. 200/s; off by default",
            read: { $0.ipRatePerSecond.map { "\($0)/s" } ?? "off" }, apply: { c, v in
                if v.isEmpty || v == "off" { c.ipRatePerSecond = nil; return }
                guard let rate = RateLimitPolicy.parseRate(v) else { throw ConfigurationError(description: "must be off or look like 200/s, 6000/m or 10/h") }
                c.ipRatePerSecond = rate
            }),
        Key("ip-burst", "Burst of the per-address limit (default: a second's worth, at least 10)",
            read: { $0.ipBurst.map(String.init) ?? "auto" }, apply: { c, v in
                if v == "auto" { c.ipBurst = nil; return }
                c.ipBurst = Int64(try integer(v, in: 1...10_000_000))
            }),
        Key("trusted-proxies", "Comma-separated addresses or CIDR blocks of load balancers whose X-Forwarded-For names the client",
            read: { $0.trustedProxies.networks.map(\.description).joined(separator: ",") }, apply: { c, v in
                do { c.trustedProxies = try TrustedProxies(parsing: v) } catch let error as TrustedProxies.InvalidEntry { throw ConfigurationError(description: error.description) }
            }),
        Key("max-batch-size", "Most records one collection write may carry (all or nothing); Chroma's max_batch_size",
            read: { String($0.collections.maxBatchSize) },
            apply: { c, v in c.collections.maxBatchSize = try integer(v, in: 1...Validation.maximumBatch) }),
        Key("collection-follow-interval", "How often a replica reads the change log of collections written elsewhere",
            read: { duration($0.collections.followIntervalMs) }, apply: { c, v in c.collections.followIntervalMs = try milliseconds(v) }),
        Key("snapshot-interval", "How often changed collection indexes are snapshotted under data-dir (also on drain)",
            read: { duration($0.collections.snapshotIntervalMs) }, apply: { c, v in c.collections.snapshotIntervalMs = try milliseconds(v) }),
        Key("change-log-retention", "Changes kept per collection log; a replica further behind reloads from the rows",
            read: { String($0.collections.retainedChanges) },
            apply: { c, v in c.collections.retainedChanges = Int64(try integer(v, in: 1_000...1_000_000_000)) }),
        Key("chroma-allow-reset", "Let POST /api/v2/reset delete every collection of the caller's tenant",
            read: { String($0.collections.allowReset) }, apply: { c, v in c.collections.allowReset = try boolean(v) }),
        Key("ai-providers", "Upstream AI providers: a list of {name, kind (openai|anthropic), base-url, api-key-env | api-key-file, stream-usage}",
            read: { AIProxyConfiguration.encodeProviders($0.aiProxy.providers) },
            apply: { c, v in c.aiProxy.providers = try AIProxyConfiguration.decode([AIProxyConfiguration.Provider].self, v.isEmpty ? "[]" : v, key: "ai-providers") }),
        Key("ai-models", "Model names clients send: a list of {name, targets: [provider/upstream-model, ...]} tried in order",
            read: { AIProxyConfiguration.encodeModels($0.aiProxy.models) },
            apply: { c, v in c.aiProxy.models = try AIProxyConfiguration.decode([AIProxyConfiguration.Model].self, v.isEmpty ? "[]" : v, key: "ai-models") }),
        Key("ai-connect-timeout", "An upstream not connected (TCP and TLS) within this is skipped for the next target",
            read: { duration($0.aiProxy.connectTimeoutMs) }, apply: { c, v in c.aiProxy.connectTimeoutMs = try milliseconds(v) }),
        Key("ai-first-byte-timeout", "An upstream silent this long before its first byte is skipped for the next target",
            read: { duration($0.aiProxy.firstByteTimeoutMs) }, apply: { c, v in c.aiProxy.firstByteTimeoutMs = try milliseconds(v) }),
        Key("ai-idle-timeout", "A started answer silent this long between two chunks is ended with an error",
            read: { duration($0.aiProxy.idleTimeoutMs) }, apply: { c, v in c.aiProxy.idleTimeoutMs = try milliseconds(v) }),
        Key("ai-total-timeout", "The longest one upstream call may take",
            read: { duration($0.aiProxy.totalTimeoutMs) }, apply: { c, v in c.aiProxy.totalTimeoutMs = try milliseconds(v) }),
        Key("ai-max-retry-wait", "The longest Retry-After the proxy waits out before retrying the last target itself",
            read: { duration($0.aiProxy.maxRetryWaitMs) }, apply: { c, v in c.aiProxy.maxRetryWaitMs = try milliseconds(v) }),
        Key("ai-breaker-failures", "Consecutive failures that open a target's circuit (it is skipped until a probe succeeds)",
            read: { String($0.aiProxy.breakerFailures) }, apply: { c, v in c.aiProxy.breakerFailures = try integer(v, in: 1...1_000_000) }),
        Key("ai-breaker-cooldown", "How long an open circuit skips its target before one probe call is let through",
            read: { duration($0.aiProxy.breakerCooldownMs) }, apply: { c, v in c.aiProxy.breakerCooldownMs = try milliseconds(v) }),
        Key("ai-cache", "Answer cache for AI calls (embeddings; chat at temperature 0 or with a seed): off, exact or semantic",
            read: { $0.aiProxy.cache.rawValue }, apply: { c, v in
                guard let mode = AIProxyConfiguration.CacheMode(rawValue: v) else { throw ConfigurationError(description: "must be off, exact or semantic") }
                c.aiProxy.cache = mode
            }),
        Key("ai-cache-ttl", "How long a cached AI answer is replayed",
            read: { duration($0.aiProxy.cacheTTLMs) }, apply: { c, v in c.aiProxy.cacheTTLMs = try milliseconds(v) }),
        Key("ai-cache-max-bytes", "Bytes the in-process AI answer cache may hold (least recently used out first)",
            read: { String($0.aiProxy.cacheMaximumBytes) }, apply: { c, v in c.aiProxy.cacheMaximumBytes = try size(v, in: 0...(1 << 40)) }),
        Key("ai-cache-store", "Where exact AI answers are kept: auto (redis when redis-url is set), local (this process) or redis (every replica)",
            read: { $0.aiProxy.cacheStore.rawValue }, apply: { c, v in
                guard let store = AIProxyConfiguration.CacheStore(rawValue: v) else { throw ConfigurationError(description: "must be auto, local or redis") }
                c.aiProxy.cacheStore = store
            }),
        Key("ai-semantic-model", "The ai-models entry whose embeddings the semantic cache compares prompts by",
            read: { $0.aiProxy.semanticModel }, apply: { c, v in c.aiProxy.semanticModel = v }),
        Key("ai-semantic-threshold", "Least cosine similarity of a cached prompt to be compared further (its content words must also match)",
            read: { String($0.aiProxy.semanticThreshold) }, apply: { c, v in
                guard let t = Double(v), t > 0, t <= 1 else { throw ConfigurationError(description: "expected a number in (0, 1]") }
                c.aiProxy.semanticThreshold = t
            }),
        Key("ai-semantic-max-prompts", "Prompts the semantic cache keeps per scope (tenant, model, system prompt, parameters); oldest out first",
            read: { String($0.aiProxy.semanticMaximumPerScope) }, apply: { c, v in c.aiProxy.semanticMaximumPerScope = try integer(v, in: 1...10_000_000) }),
        Key("document-cache", "Read-through cache of document reads: auto (Redis with redis-url, in process with SQLite, else off) or off",
            read: { $0.documents.cache.rawValue }, apply: { c, v in
                guard let mode = DocumentsConfiguration.CacheMode(rawValue: v) else { throw ConfigurationError(description: "must be auto or off") }
                c.documents.cache = mode
            }),
        Key("document-cache-ttl", "How long a cached document is kept (a write replaces it at once)",
            read: { duration($0.documents.cacheTTLMs) }, apply: { c, v in c.documents.cacheTTLMs = try milliseconds(v) }),
        Key("document-cache-max-bytes", "Bytes the in-process document cache may hold (least recently used out first)",
            read: { String($0.documents.cacheMaximumBytes) }, apply: { c, v in c.documents.cacheMaximumBytes = try size(v, in: 1024...(1 << 40)) }),
        Key("files-max-bytes", "The largest file upload (413 above it); uploads stream to storage, never whole in memory",
            read: { String($0.files.maximumBytes) }, apply: { c, v in c.files.maximumBytes = try size(v, in: 1...(1 << 40)) }),
        Key("files-dir", "Where uploaded files' bytes live with the embedded database (default: files under data-dir); with PostgreSQL they live in it",
            read: { $0.files.directory ?? "" }, apply: { c, v in c.files.directory = v.isEmpty ? nil : v }),
        Key("static-dir", "A folder served at / for GET and HEAD requests no route claims (off when empty)",
            read: { $0.staticAssets.directory ?? "" }, apply: { c, v in c.staticAssets.directory = v.isEmpty ? nil : v }),
        Key("static-cache-control", "Cache-Control of static answers (each carries ETag and Last-Modified)",
            read: { $0.staticAssets.cacheControl }, apply: { c, v in
                guard !v.isEmpty, v.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { throw ConfigurationError(description: "must be a visible ASCII header value") }
                c.staticAssets.cacheControl = v
            }),
        Key("static-max-file-bytes", "The largest static file (or range of one) answered",
            read: { String($0.staticAssets.maximumFileBytes) }, apply: { c, v in c.staticAssets.maximumFileBytes = try size(v, in: 1...(1 << 34)) }),
        Key("jobs-workers", "Generation jobs this process runs at once (serve and worker); 0: serve runs none",
            read: { String($0.jobs.workers) }, apply: { c, v in c.jobs.workers = try integer(v, in: 0...10_000) }),
        Key("jobs-lease", "How long a job's claim lasts past its last heartbeat: how soon another worker takes over a dead one's job",
            read: { duration($0.jobs.leaseMs) }, apply: { c, v in
                let ms = try milliseconds(v)
                guard ms >= 300 else { throw ConfigurationError(description: "must be at least 300ms (heartbeats come every third of it)") }
                c.jobs.leaseMs = ms
            }),
        Key("jobs-max-attempts", "Attempts a generation job gets before it fails for good",
            read: { String($0.jobs.maxAttempts) }, apply: { c, v in c.jobs.maxAttempts = try integer(v, in: 1...100) }),
        Key("jobs-retry-backoff", "Wait before a failed job's first retry (doubling, with jitter, up to a minute)",
            read: { duration($0.jobs.retryBackoffMs) }, apply: { c, v in c.jobs.retryBackoffMs = try milliseconds(v) }),
        Key("jobs-poll-interval", "How often an idle worker asks the database for a job",
            read: { duration($0.jobs.pollIntervalMs) }, apply: { c, v in c.jobs.pollIntervalMs = max(1, try milliseconds(v)) }),
        Key("jobs-embedding-model", "The ai-models entry that embeds a job's answer into its collection (a job may name its own)",
            read: { $0.jobs.embeddingModel }, apply: { c, v in c.jobs.embeddingModel = v }),
        Key("jobs-max-request-bytes", "The largest generation request (413 above it)",
            read: { String($0.jobs.maximumRequestBytes) }, apply: { c, v in c.jobs.maximumRequestBytes = try size(v, in: 1024...(64 << 20)) }),
        Key("schedules", "Scheduled jobs: a list of {name, cron (UTC; 5 fields, or 6 with seconds first), task (backup|index-snapshot|usage-rollup|lease-sweep), directory, keep}",
            read: { ScheduleConfiguration.encodeList($0.jobs.schedules) }, apply: { c, v in
                do { c.jobs.schedules = try ScheduleConfiguration.decodeList(v) } catch let error as ConfigurationError {
                    throw error
                } catch {
                    throw ConfigurationError(description: "\(error)")
                }
            }),
        Key("migrate", "Apply pending migrations at start: auto (SQLite only), true or false",
            read: { $0.migrateOnStart.rawValue }, apply: { c, v in
                guard let policy = GatewayConfiguration.MigrationPolicy(rawValue: v) else {
                    throw ConfigurationError(description: "must be auto, true or false")
                }
                c.migrateOnStart = policy
            }),
    ]

    public static var keyNames: [String] { keys.map(\.name) }

    /// One line per key, for `--help`: the table is the only place a key is described.
    public static var keyHelp: String {
        let width = (keys.map(\.name.count).max() ?? 0) + 4
        return keys.map { key in
            ("  --" + key.name).padding(toLength: width + 2, withPad: " ", startingAt: 0) + key.help
        }.joined(separator: "\n")
    }

    /// Reads `--key value` and `--key=value` from command-line words; every key must be in
    /// the table, every key needs a value.
    public static func parseFlags(_ words: [String]) throws -> [String: String] {
        let known = Set(keyNames)
        var flags: [String: String] = [:]
        var i = 0
        while i < words.count {
            let word = words[i]
            guard word.hasPrefix("--"), word.count > 2 else {
                throw ConfigurationError(description: "unexpected argument '\(word)'")
            }
            var name = String(word.dropFirst(2))
            var value: String?
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            guard known.contains(name) else {
                throw ConfigurationError(description: "unknown option '--\(name)'; configuration keys: \(keyNames.joined(separator: ", "))")
            }
            if value == nil {
                guard i + 1 < words.count else { throw ConfigurationError(description: "--\(name) needs a value") }
                i += 1
                value = words[i]
            }
            flags[name] = value
            i += 1
        }
        return flags
    }

    static func databaseURL(_ value: String) throws -> String? {
        guard !value.isEmpty else { return nil }
        guard value.hasPrefix("postgres://") || value.hasPrefix("postgresql://") else {
            throw ConfigurationError(description: "must be a postgres:// URL")
        }
        return value
    }

    /// The URL with its password replaced, for `config print` and logs.
    static func maskedURL(_ url: String?) -> String {
        guard let url else { return "" }
        guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].lastIndex(of: "@") else { return url }
        let credentials = url[scheme.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return url }
        return String(url[..<credentials.index(after: colon)]) + "********" + String(url[at...])
    }

    /// `max-body-bytes` → `AIWRITER_MAX_BODY_BYTES`.
    public static func environmentName(_ key: String) -> String {
        "AIWRITER_" + key.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// Loads the configuration. `flags` maps key names to values given on the command line.
    public static func load(file: String?, environment: [String: String], flags: [String: String]) throws -> (GatewayConfiguration, [Entry]) {
        var configuration = GatewayConfiguration()
        var sources: [String: Source] = [:]
        let byName = Dictionary(uniqueKeysWithValues: keys.map { ($0.name, $0) })

        func apply(_ name: String, _ value: String, _ source: Source, origin: String) throws {
            guard let key = byName[name] else {
                throw ConfigurationError(description: "unknown configuration key '\(name)' in \(origin); known keys: \(keyNames.joined(separator: ", "))")
            }
            do {
                try key.apply(&configuration, value.trimmingCharacters(in: .whitespaces))
            } catch let error as ConfigurationError {
                throw ConfigurationError(description: "\(name) = '\(value)' from \(origin): \(error.description)")
            }
            sources[name] = source
        }

        let path = file ?? environment["AIWRITER_CONFIG"]
        if let path {
            for (name, value) in try readFile(path) { try apply(name, value, .file, origin: path) }
        }
        for key in keys {
            if let value = environment[environmentName(key.name)] {
                try apply(key.name, value, .environment, origin: environmentName(key.name))
            }
        }
        for (name, value) in flags.sorted(by: { $0.key < $1.key }) {
            try apply(name, value, .flag, origin: "--\(name)")
        }
        try configuration.resolveTLS()
        configuration.aiProxy = try configuration.aiProxy.validated()
        if configuration.rateLimitStore == .redis && configuration.redisURL == nil {
            throw ConfigurationError(description: "rate-limit-store redis needs redis-url")
        }
        if configuration.aiProxy.cacheStore == .redis && configuration.redisURL == nil {
            throw ConfigurationError(description: "ai-cache-store redis needs redis-url")
        }
        let entries = keys.map { key in
            Entry(key: key.name, value: key.secret ? "********" : key.read(configuration), source: sources[key.name] ?? .defaults, help: key.help)
        }
        return (configuration, entries)
    }

    static func readFile(_ path: String) throws -> [(String, String)] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(description: "cannot read configuration file \(path)")
        }
        let lower = path.lowercased()
        if lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") {
            return try readYAML(data, path: path)
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw ConfigurationError(description: "\(path) is not valid JSON: \(error.localizedDescription)")
        }
        guard let dictionary = object as? [String: Any] else {
            throw ConfigurationError(description: "\(path) must hold a JSON object of key: value")
        }
        return try dictionary.keys.sorted().map { name in
            let value = dictionary[name]!
            switch value {
            case let s as String: return (name, s)
            case let n as NSNumber:
                if String(cString: n.objCType) == "c" { return (name, n.boolValue ? "true" : "false") }
                return (name, n.stringValue)
            case is [Any] where structuredKeys.contains(name), is [String: Any] where structuredKeys.contains(name):
                let data = try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])
                return (name, String(decoding: data, as: UTF8.self))
            default:
                throw ConfigurationError(description: "\(name) in \(path) must be a string, number or boolean")
            }
        }
    }

    /// A YAML mapping of key: scalar (lists, for tls-cert and tls-key, join with commas; the
    /// structured keys' lists of mappings become JSON text).
    static func readYAML(_ data: Data, path: String) throws -> [(String, String)] {
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(description: "\(path) is not UTF-8")
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw ConfigurationError(description: "\(path) is not valid YAML: \(error)")
        }
        guard let node else { return [] }
        guard let mapping = node.mapping else {
            throw ConfigurationError(description: "\(path) must hold a YAML mapping of key: value")
        }
        var pairs: [(String, String)] = []
        for (keyNode, valueNode) in mapping {
            guard let key = keyNode.scalar?.string else {
                throw ConfigurationError(description: "\(path): keys must be plain strings")
            }
            if let scalar = valueNode.scalar {
                pairs.append((key, scalar.string))
            } else if structuredKeys.contains(key) {
                pairs.append((key, try jsonText(valueNode, key: key, path: path)))
            } else if let sequence = valueNode.sequence, sequence.allSatisfy({ $0.scalar != nil }) {
                pairs.append((key, sequence.compactMap { $0.scalar?.string }.joined(separator: ",")))
            } else {
                throw ConfigurationError(description: "\(key) in \(path) must be a string, number, boolean or list of strings")
            }
        }
        return pairs.sorted { $0.0 < $1.0 }
    }

    /// Keys whose value is a list of mappings: carried as JSON text from file, environment or flag.
    static let structuredKeys: Set<String> = ["ai-providers", "ai-models", "schedules"]

    /// A YAML node as JSON text (scalars stay strings unless YAML resolved them as numbers or
    /// booleans).
    static func jsonText(_ node: Node, key: String, path: String) throws -> String {
        func convert(_ node: Node) throws -> Any {
            if let mapping = node.mapping {
                var out: [String: Any] = [:]
                for (k, v) in mapping {
                    guard let name = k.scalar?.string else { throw ConfigurationError(description: "\(key) in \(path): keys must be plain strings") }
                    out[name] = try convert(v)
                }
                return out
            }
            if let sequence = node.sequence { return try sequence.map(convert) }
            guard let scalar = node.scalar else { return NSNull() }
            if scalar.style == .plain {
                if let b = Bool.construct(from: scalar) { return b }
                if let i = Int.construct(from: scalar) { return i }
                if scalar.string == "null" || scalar.string == "~" { return NSNull() }
            }
            return scalar.string
        }
        let data = try JSONSerialization.data(withJSONObject: try convert(node), options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    // MARK: - Value parsers

    static func list(_ v: String) -> [String] {
        v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    static func integer(_ v: String, in range: ClosedRange<Int>) throws -> Int {
        guard let n = Int(v), range.contains(n) else {
            throw ConfigurationError(description: "expected a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return n
    }

    static func boolean(_ v: String) throws -> Bool {
        switch v.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw ConfigurationError(description: "expected true or false")
        }
    }

    /// Splits "16KiB" into ("16", 1024) by the first matching suffix (longest ones listed first).
    static func splitUnit<M>(_ v: String, _ units: [(String, M)], default: M) -> (String, M) {
        let lower = v.lowercased()
        for (suffix, multiplier) in units where lower.hasSuffix(suffix) {
            return (String(lower.dropLast(suffix.count)), multiplier)
        }
        return (lower, `default`)
    }

    /// "16384", "16KiB", "16k", "8MiB", "8m", "1GiB".
    static func size(_ v: String, in range: ClosedRange<Int>) throws -> Int {
        let (number, multiplier) = splitUnit(v, [("kib", 1 << 10), ("mib", 1 << 20), ("gib", 1 << 30), ("kb", 1000), ("mb", 1_000_000), ("gb", 1_000_000_000), ("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("b", 1)], default: 1)
        guard let n = Int(number.trimmingCharacters(in: .whitespaces)), n >= 0 else {
            throw ConfigurationError(description: "expected a size such as 16384, 16KiB or 8MiB")
        }
        let (bytes, overflow) = n.multipliedReportingOverflow(by: multiplier)
        guard !overflow, range.contains(bytes) else {
            throw ConfigurationError(description: "expected a size in \(range.lowerBound)...\(range.upperBound) bytes")
        }
        return bytes
    }

    /// A duration of at least a millisecond and at most a year (`DurationText`'s forms).
    static func milliseconds(_ v: String) throws -> UInt64 {
        guard let seconds = DurationText.seconds(v), (0.001...86_400.0 * 365).contains(seconds) else {
            throw ConfigurationError(description: "expected a positive duration such as 10s, 500ms or 1m30s")
        }
        return UInt64((seconds * 1000).rounded())
    }

    static func duration(_ ms: UInt64) -> String {
        ms % 1000 == 0 ? "\(ms / 1000)s" : "\(ms)ms"
    }
}
