import Foundation

/// A real PostgreSQL server for tests, through `scripts/postgres.sh` (initdb + pg_ctl on
/// loopback). CI's `.ci/run` starts one and names it in `AIWRITER_TEST_DATABASE_URL`; tests
/// that stop and start the server get a private one.
public final class PostgresServer: @unchecked Sendable {
    // @unchecked: immutable after init; start/stop are called from one test at a time.
    public let directory: String
    public let port: Int
    public var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres" }

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("scripts/postgres.sh").path

    /// A private server in a new directory on a free port, started.
    public init() throws {
        directory = NSTemporaryDirectory() + "aiwriter-pg-\(UUID().uuidString)"
        port = freeLoopbackPort()
        try start()
    }

    public func start() throws {
        let (status, _, err) = try run([PostgresServer.script, "start", directory, String(port)], timeout: 90)
        guard status == 0 else { throw RawClient.Failure(description: "postgres start failed: \(err)") }
    }

    public func stop() {
        _ = try? run([PostgresServer.script, "stop", directory], timeout: 60)
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The server for conformance tests: CI's if it named one, else a private one started once.
    public static func shared() throws -> String {
        if let url = ProcessInfo.processInfo.environment["AIWRITER_TEST_DATABASE_URL"], !url.isEmpty { return url }
        return try sharedPrivate.get().url
    }

    nonisolated(unsafe) static let sharedPrivate: Result<PostgresServer, Error> = Result { try PostgresServer() }

    /// A new empty database on the server at `serverURL` (a fresh database per run).
    public static func freshDatabase(on serverURL: String) throws -> String {
        let name = "aiw_test_\(UUID().uuidString.prefix(8).lowercased())"
        let (status, _, err) = try run(["psql", serverURL, "-v", "ON_ERROR_STOP=1", "-q", "-c", "CREATE DATABASE \(name)"])
        guard status == 0 else { throw RawClient.Failure(description: "CREATE DATABASE failed: \(err)") }
        guard let slash = serverURL.lastIndex(of: "/") else { return serverURL }
        return serverURL[..<slash] + "/" + name
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
public func freeLoopbackPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}
