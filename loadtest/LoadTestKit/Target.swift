/// Where the load goes: `http[s]://host[:port][/path]` (host: a name, IPv4, or `[IPv6]`),
/// resolved once before the run.
public struct Target: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// The origin-form path (with query) of the URL, "/" when it has none.
    public var path: String
    /// The Host header value.
    public var authority: String

    /// https:// (TLS through `Net`'s TLS layer).
    public var isTLS: Bool

    public init(url: String) throws(LoadTestError) {
        isTLS = url.hasPrefix("https://")
        guard url.hasPrefix("http://") || isTLS else { throw .invalid("the URL must start with http:// or https://") }
        let rest = url.dropFirst(isTLS ? "https://".count : "http://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let hostPort = rest[..<slash]
        path = slash == rest.endIndex ? "/" : String(rest[slash...])
        authority = String(hostPort)
        if let colon = hostPort.lastIndex(of: ":"), !hostPort.hasSuffix("]") {
            guard let p = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(p) else {
                throw .invalid("bad port in \(url)")
            }
            port = p
            host = String(hostPort[..<colon])
        } else {
            port = isTLS ? 443 : 80
            host = String(hostPort)
        }
        guard !host.isEmpty else { throw .invalid("no host in \(url)") }
    }
}

/// Why a load test could not run (bad arguments, bad scenario); failures of the target are
/// measured, not thrown.
public enum LoadTestError: Error, CustomStringConvertible, Equatable {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let m): return m
        }
    }
}
