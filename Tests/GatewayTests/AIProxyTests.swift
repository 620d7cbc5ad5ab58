import Foundation
import Net
import Testing
import UpstreamClient
@testable import Gateway

/// The AI proxy's pure parts: configuration, the request rewrite, the circuit breaker and
/// Retry-After. The calls themselves are tested end to end with the real `openai` client
/// against a programmable upstream (Tests/python/openai_client_test.py).
@Suite("AI proxy")
struct AIProxyTests {
    static let yaml = """
    ai-providers:
      - name: primary
        kind: openai
        base-url: "https://api.example.com/v1"
        api-key-env: PRIMARY_API_KEY
      - name: backup
        kind: openai
        base-url: "http://127.0.0.1:9000/v1"
        stream-usage: false
    ai-models:
      - name: writer
        targets: ["primary/gpt-4o-mini", "backup/llama-3-8b"]
    ai-first-byte-timeout: 30s
    ai-cache: exact
    """

    func load(_ text: String, environment: [String: String] = [:]) throws -> GatewayConfiguration {
        let path = NSTemporaryDirectory() + "aiwriter-ai-\(UUID().uuidString).yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try ConfigurationLoader.load(file: path, environment: environment, flags: [:]).0
    }

    @Test func theIssuesConfigurationFormLoads() throws {
        let c = try load(AIProxyTests.yaml)
        #expect(c.aiProxy.providers.map(\.name) == ["primary", "backup"])
        #expect(c.aiProxy.providers[0].apiKeyEnv == "PRIMARY_API_KEY")
        #expect(c.aiProxy.providers[1].streamUsage == false)
        #expect(c.aiProxy.models == [AIProxyConfiguration.Model(name: "writer", targets: ["primary/gpt-4o-mini", "backup/llama-3-8b"])])
        #expect(c.aiProxy.firstByteTimeoutMs == 30_000)
        #expect(c.aiProxy.cache == .exact)
        let table = try ModelTable(c.aiProxy, environment: ["PRIMARY_API_KEY": "sk-1"])
        #expect(table.models["writer"]!.map(\.upstreamModel) == ["gpt-4o-mini", "llama-3-8b"])
        #expect(table.models["writer"]![0].provider.apiKey == "sk-1")
        #expect(table.targetCount == 2)
    }

    @Test func theSameFromEnvironmentJSON() throws {
        let (c, entries) = try ConfigurationLoader.load(file: nil, environment: [
            "AIWRITER_AI_PROVIDERS": #"[{"name":"p","kind":"openai","base-url":"http://h/v1"}]"#,
            "AIWRITER_AI_MODELS": #"[{"name":"m","targets":["p/x"]}]"#,
        ], flags: [:])
        #expect(c.aiProxy.models[0].targets == ["p/x"])
        let printed = entries.first { $0.key == "ai-providers" }!.value
        #expect(printed == #"[{"name":"p","kind":"openai","base-url":"http://h/v1"}]"#)
    }

    @Test("bad AI configuration is an error naming the key", arguments: [
        ("ai-models:\n  - name: m\n    targets: [\"nobody/x\"]\n", "ai-models"),
        ("ai-providers:\n  - name: p\n    kind: azure\n    base-url: http://h\n", "ai-providers"),
        ("ai-providers:\n  - name: p\n    kind: openai\n    base-url: ftp://h\n", "base-url"),
        ("ai-providers:\n  - name: p\n    kind: openai\n    base-url: http://h\n    colour: red\n", "colour"),
        ("ai-providers:\n  - {name: p, kind: openai, base-url: \"http://h\"}\n  - {name: p, kind: openai, base-url: \"http://h\"}\n", "twice"),
        ("ai-cache: sometimes\n", "ai-cache"),
    ])
    func badConfiguration(_ text: String, _ mention: String) {
        do {
            _ = try load(text)
            Issue.record("accepted: \(text)")
        } catch {
            #expect("\(error)".contains(mention), "\(error)")
        }
    }

    @Test func aMissingKeyVariableStopsTheStart() throws {
        let c = try load(AIProxyTests.yaml)
        #expect(throws: ConfigurationLoader.ConfigurationError.self) { try ModelTable(c.aiProxy, environment: [:]) }
    }

    func request(_ body: String) throws -> AIRequest {
        try AIRequest.parse(body: Array(body.utf8), kind: .chat)
    }

    @Test func theUpstreamBodyKeepsEveryMemberButTheModel() throws {
        let r = try request(#"{"model":"writer","messages":[{"role":"user","content":"hé"}],"x_new":{"deep":[1,2.50,null]},"temperature":0,"stream":true}"#)
        #expect(r.stream && !r.clientAskedUsage)
        let body = String(decoding: r.upstreamBody(model: "gpt-4o-mini", injectUsage: true), as: UTF8.self)
        #expect(body == #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hé"}],"x_new":{"deep":[1,2.50,null]},"temperature":0,"stream":true,"stream_options":{"include_usage":true}}"#)
        let asked = try request(#"{"model":"w","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":true,"include_obfuscation":false}}"#)
        #expect(asked.clientAskedUsage)
        #expect(String(decoding: asked.upstreamBody(model: "u", injectUsage: false), as: UTF8.self)
                == #"{"model":"u","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":true,"include_obfuscation":false}}"#)
    }

    @Test func theEstimateCoversPromptAndCeilingPerChoice() throws {
        let body = #"{"model":"w","messages":[{"role":"user","content":"x"}],"max_tokens":100,"n":3}"#
        let r = try request(body)
        #expect(r.estimatedTokens == Int64(body.utf8.count / 3 + 1) + 300)
        #expect(try request(#"{"model":"w","messages":[{"role":"user","content":"x"}],"max_completion_tokens":7,"max_tokens":100}"#).estimatedTokens < 100)
    }

    @Test("bad chat bodies are 400 naming the field", arguments: [
        (#"{"messages":[{"role":"user","content":"x"}]}"#, "model"),
        (#"{"model":"w","messages":[]}"#, "messages"),
        (#"{"model":"w","messages":[{}],"stream":"yes"}"#, "stream"),
        (#"{"model":"w","messages":[{}],"stream_options":{"include_usage":true}}"#, "stream_options"),
        (#"{"model":"w","messages":[{}],"max_tokens":0}"#, "max_tokens"),
        (#"{"model":"w","messages":[{}],"n":1000}"#, "n"),
        (#"{"model":"w","messages":[{}],"#, nil),
        (#"[1]"#, nil),
    ] as [(String, String?)])
    func badChatBodies(_ body: String, _ param: String?) throws {
        do {
            _ = try request(body)
            Issue.record("accepted \(body)")
        } catch let error as OpenAIError {
            #expect(error.status == .badRequest)
            #expect(error.param == param)
        }
    }

    func admit(_ b: inout CircuitBreaker, _ now: UInt64) -> Bool { b.admit(nowMs: now) }

    @Test func theBreakerOpensProbesAndCloses() {
        var b = CircuitBreaker(threshold: 3, cooldownMs: 1_000)
        for _ in 0..<2 { b.recordFailure(nowMs: 0) }
        #expect(admit(&b, 0))
        b.recordSuccess()
        for _ in 0..<3 { b.recordFailure(nowMs: 10) }
        #expect(b.state == .open(untilMs: 1_010))
        #expect(!admit(&b, 500))
        #expect(b.waitMs(nowMs: 500) == 510)
        #expect(admit(&b, 1_010))          // the probe
        #expect(!admit(&b, 1_011))         // others still skip
        b.recordFailure(nowMs: 1_100)
        #expect(b.state == .open(untilMs: 2_100))
        #expect(admit(&b, 2_100))
        #expect(admit(&b, 3_200))          // a probe that never reported is replaced
        b.recordSuccess()
        #expect(b.state == .closed(consecutiveFailures: 0))
    }

    @Test func retryAfterPrefersMilliseconds() {
        func headers(_ h: [String: String]) -> (String) -> String? { { h[$0] } }
        #expect(RetryAfter.milliseconds(headers(["retry-after-ms": "250.5", "retry-after": "9"])) == 251)
        #expect(RetryAfter.milliseconds(headers(["retry-after": "1.5"])) == 1_500)
        #expect(RetryAfter.milliseconds(headers(["retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"])) == nil)
        #expect(RetryAfter.milliseconds(headers(["retry-after": "-1"])) == nil)
        #expect(RetryAfter.milliseconds(headers([:])) == nil)
    }

    @Test func sseEventsSurviveAnySplit() throws {
        let stream = Array("data: {\"a\":1}\r\n\r\n: ping\n\nevent: x\ndata: l1\ndata: l2\n\ndata: [DONE]\n\n".utf8)
        for cut in 0...stream.count {
            var framer = SSEFramer()
            var events: [SSEFramer.Event] = []
            try stream[..<cut].withUnsafeBytes { try framer.feed($0) { events.append($0) } }
            try stream[cut...].withUnsafeBytes { try framer.feed($0) { events.append($0) } }
            #expect(events.compactMap(\.data).map { String(decoding: $0, as: UTF8.self) } == ["{\"a\":1}", "l1\nl2", "[DONE]"])
            #expect(events.flatMap(\.raw) + framer.finish() == stream)
        }
        var small = SSEFramer(maximumEventBytes: 8)
        #expect(throws: SSEFramer.Failure.self) { try Array("data: 0123456789".utf8).withUnsafeBytes { try small.feed($0) { _ in } } }
    }

    @Test func usageDatesRoundTrip() throws {
        #expect(try UsageRoutes.day("1970-01-01", "since") == 0)
        #expect(try UsageRoutes.day("2024-02-29", "since") == 19_782)
        for day in stride(from: Int64(0), through: 40_000, by: 97) {
            #expect(try UsageRoutes.day(UsageRoutes.date(day), "since") == day)
        }
        for bad in ["2026-02-29", "2026-13-01", "2026-1-01", "26-01-01", "2026-01-00", "x", "1969-12-31"] {
            #expect(throws: GatewayError.self) { try UsageRoutes.day(bad, "since") }
        }
    }

    @Test func usageIsFoundOnlyAsATopLevelObject() {
        func usage(_ text: String) -> String? {
            ProxyCall.usageObject(Array(text.utf8)).map { object in object.keys.map { "\($0)=\(object[$0]!)" }.joined(separator: ",") }
        }
        #expect(usage(#"{"choices":[],"usage":{"prompt_tokens":3,"total_tokens":5}}"#) == #"prompt_tokens=number("3"),total_tokens=number("5")"#)
        #expect(usage(#"{"usage" : { "total_tokens" : 7 , "d" : {"x":"}"} } }"#) == #"total_tokens=number("7"),d=object(Gateway.JSONObject(keys: ["x"], values: ["x": Gateway.JSONValue.string("}")]))"#)
        #expect(usage(#"{"usage":null}"#) == nil)
        #expect(usage(#"{"content":"say \"usage\": {\"total_tokens\": 9}"}"#) == nil)
        #expect(usage(#"{"usage":{"total_tokens":1"#) == nil)
        #expect(usage("") == nil)
    }

    @Test func upstreamHeaderNamesIgnoreASCIICaseOnly() {
        let head = UpstreamHead(status: 200, headers: [("Content-Type", "application/json"), ("Retry-After", "2"), ("x-b", "1"), ("x-@", "at")])
        #expect(head.value("content-type") == "application/json")
        #expect(head.value("RETRY-AFTER") == "2")
        #expect(head.value("x-B") == "1")
        #expect(head.value("content_type") == nil)
        #expect(head.value("x-`") == nil)   // '@' and '`' differ in the case bit alone, but are not letters
        #expect(head.value("x-@") == "at")
        #expect(head.value("retry-after-ms") == nil)
    }
}
