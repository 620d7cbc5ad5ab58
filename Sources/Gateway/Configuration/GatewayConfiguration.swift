import Net

/// The effective configuration of one gateway process. Every default serves one user on one
/// machine; `ConfigurationLoader` layers a file, `AIWRITER_*` variables and flags on top.
public struct GatewayConfiguration: Sendable {
    public var http = HTTPServerConfiguration()
    /// Event loops (threads serving connections); defaults to the number of cores.
    public var loops = EventLoopGroup.coreCount
    /// How long a SIGTERM waits for in-flight requests before closing what is left.
    public var drainTimeoutMs: UInt64 = 30_000
    public var accessLog = false
    public var logLevel = "info"
    public var dataDirectory = "./data"

    public init() {}
}
