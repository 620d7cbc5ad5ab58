/// How a TLS listener terminates connections. Defaults follow Mozilla's "intermediate"
/// profile (TLS 1.2 and 1.3, its TLS 1.2 cipher list, X25519/P-256/P-384, HSTS two years);
/// `minimumVersion = .tls13` gives the "modern" profile.
public struct TLSConfiguration: Sendable, Equatable {
    public enum Version: String, Sendable { case tls12 = "1.2", tls13 = "1.3" }

    /// Certificate chain (PEM, leaf first) and private key files. The first pair is the
    /// default; the others are chosen by SNI when their certificate matches the server name.
    public var certificates: [(chain: String, key: String)] {
        get { pairs.map { ($0.chain, $0.key) } }
        set { pairs = newValue.map { CertificateFiles(chain: $0.chain, key: $0.key) } }
    }
    var pairs: [CertificateFiles] = []
    public var minimumVersion: Version = .tls12
    /// `Strict-Transport-Security: max-age=…` on TLS responses; 0 sends none.
    public var hstsMaxAgeSeconds: Int = 63_072_000
    /// From accept until the handshake completes.
    public var handshakeTimeoutMs: UInt64 = 10_000
    /// Sessions kept for resumption by session id (per process).
    public var sessionCacheSize: Int = 20_480
    /// Session-ticket keys are replaced this often; tickets under the previous key still resume.
    public var ticketKeyRotationSeconds: Int = 43_200
    /// Session-ticket keys shared with other replicas (`TLSTicketKeyFile`); replaces the
    /// per-process random keys and their timer.
    public var ticketKeyFile: String?
    /// OpenSSL's session id context: sessions resume only on servers that share it (the
    /// embedding application's name, so another TLS service on the host cannot resume ours).
    public var sessionIDContext = "http"

    public init() {}

    public static func == (a: TLSConfiguration, b: TLSConfiguration) -> Bool {
        a.pairs == b.pairs && a.minimumVersion == b.minimumVersion && a.hstsMaxAgeSeconds == b.hstsMaxAgeSeconds
            && a.handshakeTimeoutMs == b.handshakeTimeoutMs && a.sessionCacheSize == b.sessionCacheSize
            && a.ticketKeyRotationSeconds == b.ticketKeyRotationSeconds && a.ticketKeyFile == b.ticketKeyFile && a.sessionIDContext == b.sessionIDContext
    }

    struct CertificateFiles: Sendable, Equatable {
        var chain: String
        var key: String
    }

    /// Mozilla intermediate v5 TLS 1.2 ciphers (TLS 1.3 suites are OpenSSL's defaults, which
    /// are exactly the profile's three).
    static let intermediateCiphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"
    static let groups = "X25519:P-256:P-384"
}
