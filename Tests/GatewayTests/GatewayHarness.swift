import Foundation
import Logging
import Net
import Storage
@testable import Gateway

/// The gateway's socket-free test harness: the real router, pipeline stages, features and
/// Store (SQLite in a scratch directory), one loop driven by the test's own thread, a request
/// in as text and a response out (`HTTPResponseRecorder`). How every feature's routes are
/// tested without sockets.
final class GatewayHarness {
    let loop: EventLoop
    let group: EventLoopGroup
    let services: GatewayServices
    let handler: GatewayHandler
    let directory: String

    init(_ configure: (inout GatewayConfiguration) -> Void = { _ in },
         routes: (RouterBuilder, GatewayServices) -> Void = { _, _ in }) throws {
        var configuration = GatewayConfiguration()
        configuration.loops = 1
        directory = NSTemporaryDirectory() + "aiwriter-harness-\(UUID().uuidString)"
        configuration.storage.dataDirectory = directory
        configure(&configuration)
        let backend = try configuration.storage.openBackend()
        _ = try Migrator(backend: backend).migrate()
        services = try GatewayServices(configuration: configuration, store: Store(backend: backend), logger: Logger(label: "harness"))
        services.lifecycle.markStarted()
        handler = GatewayHandler.make(services: services, loopCount: 1, accessLog: nil, extraRoutes: routes)
        group = try EventLoopGroup(loopCount: 1, threadName: "harness")
        loop = group.loops[0]
    }

    var collectionsEngine: CollectionEngine? { services.collections }

    deinit {
        services.store.backend.shutdown()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// One request (a whole HTTP/1.1 message; `Host` added when missing) through the pipeline.
    func send(_ method: String, _ target: String, headers: [(String, String)] = [], body: String = "",
              remoteIP: String = "127.0.0.1") throws -> HTTPResponseRecorder {
        var raw = "\(method) \(target) HTTP/1.1\r\nHost: harness\r\n"
        for (name, value) in headers { raw += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" || method == "PUT" { raw += "Content-Length: \(body.utf8.count)\r\n" }
        raw += "\r\n" + body
        return try HTTPResponseRecorder.exchange(raw, handler: handler, loop: loop, remoteIP: remoteIP)
    }

    /// A key of `role` in tenant `tenant`, created through the Store on the harness's loop;
    /// returns its secret.
    func key(_ role: Role, tenant: String = "acme", rate: Double? = nil, burst: Int64? = nil) -> String {
        let secret = APIKeySecret.generate()
        let record = APIKeyRecord(id: APIKeySecret.generateID(), tenantID: tenant, name: "test", hash: APIKeySecret.sha256(secret),
                                  role: role, ratePerSecond: rate, burst: burst, tokensPerMinute: nil)
        let store = services.store
        var done = false
        loop.runOnCallingThread(timeoutMilliseconds: 10_000, until: { done }) {
            store.createTenant(id: tenant, name: tenant, on: loop) { _ in
                store.createKey(record, on: self.loop) { result in
                    precondition((try? result.get()) != nil, "key creation failed: \(result)")
                    done = true
                }
            }
        }
        return secret
    }
}

extension HTTPResponseRecorder {
    /// The `error.type` of our JSON error shape.
    var errorType: String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              let error = object["error"] as? [String: Any] else { return nil }
        return error["type"] as? String
    }

    var errorMessage: String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              let error = object["error"] as? [String: Any] else { return nil }
        return error["message"] as? String
    }
}
