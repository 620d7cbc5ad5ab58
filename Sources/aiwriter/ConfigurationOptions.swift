import ArgumentParser
import Foundation
import Gateway

/// The configuration flags shared by `serve` and `config print`. Each flag has the same name
/// as its configuration-file key and its `AIWRITER_*` variable; a flag wins over both.
struct ConfigurationOptions: ParsableArguments {
    @Option(help: "A JSON configuration file (default: $AIWRITER_CONFIG).")
    var config: String?

    @Option(help: "Address to listen on.") var host: String?
    @Option(help: "TCP port to listen on (0 picks a free one).") var port: String?
    @Option(help: "Event loops (threads); default: number of cores.") var loops: String?
    @Option(name: .customLong("max-header-bytes"), help: "Request line + headers limit, e.g. 16KiB.") var maxHeaderBytes: String?
    @Option(name: .customLong("max-body-bytes"), help: "Request body limit, e.g. 8MiB.") var maxBodyBytes: String?
    @Option(name: .customLong("max-header-count"), help: "Header lines per request.") var maxHeaderCount: String?
    @Option(name: .customLong("header-timeout"), help: "Time to receive a request's headers, e.g. 10s.") var headerTimeout: String?
    @Option(name: .customLong("body-timeout"), help: "Longest silence while reading a body, e.g. 30s.") var bodyTimeout: String?
    @Option(name: .customLong("idle-timeout"), help: "Idle keep-alive timeout, e.g. 60s.") var idleTimeout: String?
    @Option(name: .customLong("send-timeout"), help: "Drop a client that reads nothing for this long.") var sendTimeout: String?
    @Option(name: .customLong("drain-timeout"), help: "Graceful-shutdown bound, e.g. 30s.") var drainTimeout: String?
    @Option(name: .customLong("max-pipelined"), help: "Responses queued per connection before reading pauses.") var maxPipelined: String?
    @Option(name: .customLong("max-connections-per-loop"), help: "Open connections per loop.") var maxConnectionsPerLoop: String?
    @Option(name: .customLong("access-log"), help: "true to log one JSON line per request.") var accessLog: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.") var logLevel: String?
    @Option(name: .customLong("data-dir"), help: "Directory for the embedded database.") var dataDir: String?
    @Option(name: .customLong("tls-port"), help: "TLS listener port.") var tlsPort: String?
    @Option(name: .customLong("tls-cert"), help: "Certificate chain PEM file(s), comma-separated (SNI picks among them).") var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "Private key PEM file(s), one per certificate.") var tlsKey: String?
    @Option(name: .customLong("tls-min-version"), help: "1.2 (intermediate) or 1.3 (modern).") var tlsMinVersion: String?
    @Option(name: .customLong("hsts-max-age"), help: "HSTS max-age in seconds; 0 disables.") var hstsMaxAge: String?
    @Option(name: .customLong("tls-handshake-timeout"), help: "TLS handshake timeout, e.g. 10s.") var tlsHandshakeTimeout: String?
    @Option(name: .customLong("tls-redirect"), help: "true to answer plain HTTP with a 308 to https.") var tlsRedirect: String?
    @Option(name: .customLong("plain-listener"), help: "false to serve TLS only.") var plainListener: String?
    @Option(name: .customLong("database-url"), help: "postgres:// URL (prefer $AIWRITER_DATABASE_URL: flags show in ps).") var databaseURL: String?
    @Option(name: .customLong("database-replica-url"), help: "postgres:// URL of a read replica.") var databaseReplicaURL: String?
    @Option(name: .customLong("database-pool-size"), help: "PostgreSQL connections per loop, at most.") var databasePoolSize: String?
    @Option(name: .customLong("database-pool-min"), help: "PostgreSQL connections per loop kept open.") var databasePoolMin: String?
    @Option(name: .customLong("statement-timeout"), help: "Database statement timeout, e.g. 5s.") var statementTimeout: String?
    @Option(name: .customLong("database-connect-timeout"), help: "PostgreSQL connect timeout, e.g. 5s.") var databaseConnectTimeout: String?
    @Option(name: .customLong("sqlite-synchronous"), help: "normal or full.") var sqliteSynchronous: String?
    @Option(name: .customLong("migrate"), help: "Migrate at start: auto, true or false.") var migrate: String?
    @Option(name: .customLong("rate-limit-store"), help: "local or redis.") var rateLimitStore: String?
    @Option(name: .customLong("redis-url"), help: "redis://[:password@]host:port/db (prefer $AIWRITER_REDIS_URL).") var redisURL: String?
    @Option(name: .customLong("rate-limit-on-redis-failure"), help: "open (local fallback) or closed (503).") var rateLimitOnRedisFailure: String?
    @Option(name: .customLong("default-rate"), help: "Default per-key rate, e.g. 100/s.") var defaultRate: String?
    @Option(name: .customLong("default-burst"), help: "Default per-key burst.") var defaultBurst: String?
    @Option(name: .customLong("auth-failure-rate"), help: "Failed authentications per client address, e.g. 10/s.") var authFailureRate: String?
    @Option(name: .customLong("ip-rate"), help: "Requests per client address on /v1, checked before the key, e.g. 200/s (default off).") var ipRate: String?
    @Option(name: .customLong("ip-burst"), help: "Burst of the per-address limit.") var ipBurst: String?
    @Option(name: .customLong("trusted-proxies"), help: "Load balancers (addresses or CIDR blocks, comma-separated) whose X-Forwarded-For names the client.") var trustedProxies: String?

    var flags: [String: String] {
        let pairs: [(String, String?)] = [
            ("host", host), ("port", port), ("loops", loops), ("max-header-bytes", maxHeaderBytes),
            ("max-body-bytes", maxBodyBytes), ("max-header-count", maxHeaderCount),
            ("header-timeout", headerTimeout), ("body-timeout", bodyTimeout), ("idle-timeout", idleTimeout),
            ("send-timeout", sendTimeout), ("drain-timeout", drainTimeout), ("max-pipelined", maxPipelined),
            ("max-connections-per-loop", maxConnectionsPerLoop), ("access-log", accessLog),
            ("log-level", logLevel), ("data-dir", dataDir), ("tls-port", tlsPort), ("tls-cert", tlsCert),
            ("tls-key", tlsKey), ("tls-min-version", tlsMinVersion), ("hsts-max-age", hstsMaxAge),
            ("tls-handshake-timeout", tlsHandshakeTimeout), ("tls-redirect", tlsRedirect), ("plain-listener", plainListener),
            ("database-url", databaseURL), ("database-replica-url", databaseReplicaURL),
            ("database-pool-size", databasePoolSize), ("database-pool-min", databasePoolMin),
            ("statement-timeout", statementTimeout), ("database-connect-timeout", databaseConnectTimeout),
            ("sqlite-synchronous", sqliteSynchronous), ("migrate", migrate),
            ("rate-limit-store", rateLimitStore), ("redis-url", redisURL), ("rate-limit-on-redis-failure", rateLimitOnRedisFailure),
            ("default-rate", defaultRate), ("default-burst", defaultBurst), ("auth-failure-rate", authFailureRate),
            ("trusted-proxies", trustedProxies), ("ip-rate", ipRate), ("ip-burst", ipBurst),
        ]
        var result: [String: String] = [:]
        for (key, value) in pairs { if let value { result[key] = value } }
        return result
    }

    func load() throws -> (GatewayConfiguration, [ConfigurationLoader.Entry]) {
        do {
            return try ConfigurationLoader.load(file: config, environment: ProcessInfo.processInfo.environment, flags: flags)
        } catch let error as ConfigurationLoader.ConfigurationError {
            throw ValidationError(error.description)
        }
    }
}
