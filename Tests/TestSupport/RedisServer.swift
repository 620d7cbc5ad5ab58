import Foundation

/// A real Redis server on loopback for tests (`redis-server`, no persistence). CI's `.ci/run`
/// starts one and names it in `AIWRITER_TEST_REDIS_URL`; tests that stop it use their own.
public final class RedisServer: @unchecked Sendable {
    // @unchecked: immutable after init; start/stop come from one test at a time.
    public let port: Int
    public var url: String { "redis://127.0.0.1:\(port)/0" }

    public init() throws {
        port = freeLoopbackPort()
        try start()
    }

    public func start() throws {
        let (status, _, err) = try run(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "",
                                        "--appendonly", "no", "--daemonize", "yes", "--loglevel", "warning"])
        guard status == 0 else { throw RawClient.Failure(description: "redis-server failed: \(err)") }
        // Wait until it answers.
        for _ in 0..<100 {
            if let (s, out, _) = try? run(["redis-cli", "-p", String(port), "ping"]), s == 0, out.contains("PONG") { return }
            usleep(20_000)
        }
        throw RawClient.Failure(description: "redis-server did not answer on \(port)")
    }

    public func stop() {
        _ = try? run(["redis-cli", "-p", String(port), "shutdown", "nosave"])
    }

    deinit { stop() }

    /// The server for tests that do not stop it: CI's if it named one, else a private one.
    public static func sharedURL() throws -> String {
        if let url = ProcessInfo.processInfo.environment["AIWRITER_TEST_REDIS_URL"], !url.isEmpty { return url }
        return try sharedPrivate.get().url
    }

    nonisolated(unsafe) static let sharedPrivate: Result<RedisServer, Error> = Result { try RedisServer() }
}
