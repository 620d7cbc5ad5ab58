import Foundation
import Net
import Storage
import Testing
@testable import Gateway

/// The router and the request pipeline, socket-free: a request in, a response out.
@Suite("Router and pipeline stages (no sockets)")
struct PipelineTests {
    @Test func routerMatchesStaticAndParameterRoutes() throws {
        let harness = try GatewayHarness(routes: { router, _ in
            router.get("/v1/items/:id", .public) { c in c.send(status: .ok, contentType: "text/plain", body: .string("item \(c.parameter("id")!)")) }
            router.delete("/v1/items/:id", .public) { c in c.send(status: .noContent) }
        })
        let item = try harness.send("GET", "/v1/items/a%20b")
        #expect(item.status == .ok && item.bodyText == "item a b")
        let missing = try harness.send("GET", "/v1/nothing")
        #expect(missing.status == .notFound && missing.errorType == "not_found")
        let wrongMethod = try harness.send("POST", "/v1/items/1")
        #expect(wrongMethod.status == .methodNotAllowed)
        #expect(wrongMethod.header("Allow") == "GET, DELETE, HEAD")
        let options = try harness.send("OPTIONS", "/v1/items/1")
        #expect(options.status == .noContent && options.header("Allow")?.hasSuffix("OPTIONS") == true)
        let badPath = try harness.send("GET", "/v1/items/%FF")
        #expect(badPath.status == .badRequest)
    }

    @Test func roleRoutesNeedAKeyWhoseRoleCoversThem() throws {
        let harness = try GatewayHarness(routes: { router, _ in
            router.post("/v1/write", .role(.writer)) { c in c.send(status: .ok, body: .string(c.caller.tenantID)) }
        })
        let none = try harness.send("POST", "/v1/write")
        #expect(none.status == .unauthorized && none.header("WWW-Authenticate") == "Bearer")
        let bogus = try harness.send("POST", "/v1/write", headers: [("Authorization", "Bearer aiw_" + String(repeating: "x", count: 43))])
        #expect(bogus.status == .unauthorized)
        let reader = harness.key(.reader)
        let refused = try harness.send("POST", "/v1/write", headers: [("Authorization", "Bearer \(reader)")])
        #expect(refused.status == .forbidden && refused.errorType == "forbidden")
        let writer = harness.key(.writer)
        let allowed = try harness.send("POST", "/v1/write", headers: [("Authorization", "Bearer \(writer)")])
        #expect(allowed.status == .ok && allowed.bodyText == "acme")
        // Every answer of a limited route carries the key's limit state.
        #expect(allowed.header("RateLimit-Policy") != nil && allowed.header("RateLimit") != nil)
    }

    @Test func keyLimitAnswers429WithRetryAfterAndHeaders() throws {
        let harness = try GatewayHarness()
        let key = harness.key(.reader, rate: 1, burst: 2)
        var statuses: [Int] = []
        var last: HTTPResponseRecorder?
        for _ in 0..<4 {
            let r = try harness.send("GET", "/v1/ping", headers: [("Authorization", "Bearer \(key)")])
            statuses.append(r.status?.rawValue ?? 0)
            last = r
        }
        #expect(statuses.filter { $0 == 200 }.count == 2 && statuses.last == 429)
        #expect(last?.header("Retry-After") != nil && last?.header("RateLimit-Policy") != nil)
        #expect(last?.errorType == "rate_limited")
    }

    @Test func addressLimitRunsBeforeTheKeyAndOnLimitedRoutes() throws {
        let harness = try GatewayHarness({ $0.ipRatePerSecond = 1; $0.ipBurst = 1 }, routes: { router, _ in
            router.get("/v1/open", .limited) { c in c.send(status: .ok) }
            router.get("/v1/free", .public) { c in c.send(status: .ok) }
        })
        #expect(try harness.send("GET", "/v1/open", remoteIP: "10.0.0.1").status == .ok)
        let second = try harness.send("GET", "/v1/open", remoteIP: "10.0.0.1")
        #expect(second.status == .tooManyRequests && second.header("RateLimit-Policy")?.contains("\"ip\"") == true)
        // Another address has its own budget; a public route has none.
        #expect(try harness.send("GET", "/v1/open", remoteIP: "10.0.0.2").status == .ok)
        #expect(try harness.send("GET", "/v1/free", remoteIP: "10.0.0.1").status == .ok)
        // No key was looked at for the refused request: 429, not 401.
        #expect(try harness.send("GET", "/v1/ping", remoteIP: "10.0.0.1").status == .tooManyRequests)
    }

    @Test func metricsCountResponsesByRouteWhenTheyEnd() throws {
        // (A response abandoned by its client is covered where Net reports it: ResponseEndedTests.)
        let harness = try GatewayHarness(routes: { router, _ in
            router.post("/v1/made", .public) { c in c.send(status: .created) }
        })
        _ = try harness.send("GET", "/healthz")
        _ = try harness.send("GET", "/healthz")
        _ = try harness.send("POST", "/v1/made")
        _ = try harness.send("GET", "/nowhere")
        let metrics = try harness.send("GET", "/metrics").bodyText
        #expect(metrics.contains("aiwriter_http_requests_total{route=\"GET /healthz\",status=\"200\"} 2"))
        #expect(metrics.contains("aiwriter_http_requests_total{route=\"POST /v1/made\",status=\"201\"} 1"))
        #expect(metrics.contains("aiwriter_http_requests_total{route=\"unmatched\",status=\"404\"} 1"))
        #expect(metrics.contains("aiwriter_http_request_duration_seconds_count{route=\"POST /v1/made\"} 1"))
    }

    @Test func adminKeyBodiesAreDecodedStrictly() throws {
        let harness = try GatewayHarness()
        let admin = "Bearer " + harness.key(.admin)
        func post(_ body: String) throws -> HTTPResponseRecorder {
            try harness.send("POST", "/v1/admin/keys", headers: [("Authorization", admin), ("Content-Type", "application/json")], body: body)
        }
        let made = try post(#"{"name":"ci","role":"writer","rate":"5/s","burst":10}"#)
        #expect(made.status == .created, "\(made.bodyText)")
        let unknown = try post(#"{"name":"x","colour":"red"}"#)
        #expect(unknown.status == .unprocessableContent && unknown.errorMessage?.contains("colour") == true)
        let wrongType = try post(#"{"name":5}"#)
        #expect(wrongType.status == .unprocessableContent && wrongType.errorMessage?.contains("name") == true)
        let duplicate = try post(#"{"role":"reader","role":"admin"}"#)
        #expect(duplicate.status == .badRequest && duplicate.errorType == "invalid_json")
        let broken = try post(#"{"name":"#)
        #expect(broken.status == .badRequest)
        let huge = try post(#"{"burst":1e30}"#)
        #expect(huge.status == .unprocessableContent)
        let array = try post("[1,2]")
        #expect(array.status == .badRequest)
    }
}

@Suite("Strict JSON bodies")
struct JSONBodyTests {
    struct Inner: Decodable { let c: Int8 }
    struct Outer: Decodable {
        let a: String
        let b: [Inner]
        let meta: JSONValue?
        let ratio: Double?
    }

    func decode(_ text: String) -> Result<Outer, GatewayError> {
        Result { () throws(GatewayError) -> Outer in try Array(text.utf8).withUnsafeBytes { bytes in
            Result { () throws(GatewayError) -> Outer in try JSONBody.decode(Outer.self, from: bytes) } }.get() }
    }

    func failure(_ text: String) -> GatewayError? {
        if case .failure(let error) = decode(text) { return error }
        return nil
    }

    @Test func acceptsAWellFormedBody() throws {
        let value = try decode(#"{"a":"x","b":[{"c":1},{"c":-2}],"meta":{"anything":[1,{"deep":true}]},"ratio":0.5}"#).get()
        #expect(value.a == "x" && value.b.map(\.c) == [1, -2] && value.ratio == 0.5)
        if case .object(let meta) = value.meta { #expect(meta.keys == ["anything"]) } else { Issue.record("meta") }
    }

    @Test func namesTheFieldPathOfWhatIsWrong() {
        #expect(failure(#"{"a":"x","b":[{"c":1},{"c":1,"d":2}]}"#)?.message == "unknown field 'b[1].d'")
        #expect(failure(#"{"a":"x","b":[{"c":300}]}"#)?.message.contains("b[0].c") == true)
        #expect(failure(#"{"a":"x","b":[{"c":1.5}]}"#)?.status == .unprocessableContent)
        #expect(failure(#"{"a":1,"b":[]}"#)?.message.contains("'a'") == true)
        #expect(failure(#"{"b":[]}"#)?.message == "'a' is required")
        #expect(failure(#"{"a":"x","b":[],"ratio":1e999}"#)?.status == .unprocessableContent)
    }

    @Test func refusesMalformedJSONAs400() {
        for text in [#"{"a":"x","a":"y","b":[]}"#, #"{"a":"x","b":[],}"#, #"{"a":"\ud800","b":[]}"#, "{\"a\":\"x\u{01}\",\"b\":[]}",
                     #"{"a":"x","b":[]} trailing"#, #"{"a":01,"b":[]}"#, String(repeating: "[", count: 100)] {
            #expect(failure(text)?.status == .badRequest, "\(text)")
        }
        let invalidUTF8: [UInt8] = Array(#"{"a":""#.utf8) + [0xC3, 0x28] + Array(#"","b":[]}"#.utf8)
        let result = invalidUTF8.withUnsafeBytes { bytes in Result { () throws(GatewayError) -> Outer in try JSONBody.decode(Outer.self, from: bytes) } }
        if case .failure(let error) = result { #expect(error.status == .badRequest) } else { Issue.record("invalid UTF-8 accepted") }
    }
}

@Suite("Loop executor")
struct LoopExecutorTests {
    @Test func asyncFlowsRunOnTheirLoopAndChainStoreCalls() async throws {
        let directory = NSTemporaryDirectory() + "aiwriter-executor-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = StoreConfiguration()
        configuration.dataDirectory = directory
        let backend = try configuration.openBackend()
        defer { backend.shutdown() }
        _ = try Migrator(backend: backend).migrate()
        let store = Store(backend: backend)
        let group = try EventLoopGroup(loopCount: 1, threadName: "exec")
        group.start()
        defer { group.stop(); group.join() }
        let loop = group.loops[0]
        let (onLoop, title) = try await withTaskExecutorPreference(loop) { () async throws -> (Bool, String) in
            _ = try await store.createTenant(id: "t", name: "t", on: loop)
            let document = try await store.createDocument(tenantID: "t", title: "first", body: "b", metadata: nil, on: loop)
            let updated = try await store.updateDocument(tenantID: "t", id: document.id, expectedVersion: document.version,
                                                         title: "second", body: "b2", metadata: nil, on: loop)
            return (loop.isInLoop && EventLoop.current === loop, updated.title)
        }
        #expect(onLoop && title == "second")
    }
}
