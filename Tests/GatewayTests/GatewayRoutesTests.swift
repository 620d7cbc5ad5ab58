import Foundation
import Logging
import Testing
import TestSupport
@testable import Gateway
import Net

func startGateway(_ configure: (inout GatewayConfiguration) throws -> Void = { _ in }, routes: (RouterBuilder) -> Void = { _ in }) throws -> GatewayServer {
    var configuration = GatewayConfiguration()
    configuration.http.port = 0
    configuration.loops = 2
    configuration.storage.dataDirectory = NSTemporaryDirectory() + "aiwriter-gateway-\(UUID().uuidString)"
    try configure(&configuration)
    let gateway = try GatewayServer(configuration: configuration, logger: Logger(label: "test"), extraRoutes: { router, _ in routes(router) })
    try gateway.start()
    return gateway
}

/// Decodes a JSON error body.
func errorObject(_ response: HTTPTestResponse) -> (type: String, message: String)? {
    guard let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
          let error = object["error"] as? [String: Any],
          let type = error["type"] as? String, let message = error["message"] as? String else { return nil }
    return (type, message)
}

@Suite("Gateway routes", .serialized)
final class GatewayRoutesTests {
    let gateway: GatewayServer

    init() throws {
        gateway = try startGateway(routes: { b in
            b.get("/v1/items/:id", .public) { c in
                c.send(status: .ok, contentType: "text/plain", body: .string("item \(c.parameter("id") ?? "?")"))
            }
            b.delete("/v1/items/:id", .public) { c in c.send(status: .noContent) }
        })
    }

    deinit {
        gateway.stop()
        gateway.wait()
    }

    @Test func healthzIsPlainOk() throws {
        let c = try RawClient(port: gateway.port)
        let r = try c.roundTrip("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(r.status == 200)
        #expect(r.bodyText == "ok")
        #expect(r.header("Content-Type")?.hasPrefix("text/plain") == true)
        #expect(r.header("Date") != nil)
        let head = try c.roundTrip("HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(head.status == 200 && head.header("Content-Length") == "2")
    }

    @Test func readyzIsReadyWhileServing() throws {
        let r = try RawClient(port: gateway.port).roundTrip("GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(r.status == 200 && r.header("Content-Type") == "application/json")
        let body = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]
        #expect(body?["status"] as? String == "ready")
        #expect((body?["database"] as? [String: Any])?["status"] as? String == "up")
        let live = try RawClient(port: gateway.port).roundTrip("GET /livez HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(live.status == 200 && String(decoding: live.body, as: UTF8.self) == "ok")
    }

    @Test func unknownRouteIsJSON404() throws {
        let r = try RawClient(port: gateway.port).roundTrip("GET /nope HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(r.status == 404)
        #expect(r.header("Content-Type") == "application/json")
        #expect(errorObject(r)?.type == "not_found")
    }

    @Test func wrongMethodIs405WithAllow() throws {
        let r = try RawClient(port: gateway.port).roundTrip("POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        #expect(r.status == 405)
        #expect(r.header("Allow") == "GET, HEAD")
        #expect(errorObject(r)?.type == "method_not_allowed")
        let options = try RawClient(port: gateway.port).roundTrip("OPTIONS /v1/items/1 HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(options.status == 204)
        #expect(options.header("Allow")?.contains("DELETE") == true)
    }

    @Test func pathParametersArePercentDecodedPerSegment() throws {
        let c = try RawClient(port: gateway.port)
        #expect(try c.roundTrip("GET /v1/items/a%20b HTTP/1.1\r\nHost: t\r\n\r\n").bodyText == "item a b")
        #expect(try c.roundTrip("GET /v1/items/a%2Fb HTTP/1.1\r\nHost: t\r\n\r\n").bodyText == "item a/b")
        #expect(try c.roundTrip("GET /v1/items/a/b HTTP/1.1\r\nHost: t\r\n\r\n").status == 404)
        let bad = try c.roundTrip("GET /v1/items/%FF HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(bad.status == 400)
        #expect(errorObject(bad)?.type == "invalid_request")
    }

    @Test func malformedRequestsGetTheJSONErrorShapeAndClose() throws {
        let c = try RawClient(port: gateway.port)
        let r = try c.roundTrip("GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
        #expect(r.status == 400)
        #expect(errorObject(r)?.type == "malformed_request")
        #expect(c.waitForClose())
    }

    @Test func metricsParseAsPrometheusText() throws {
        let c = try RawClient(port: gateway.port)
        for _ in 0..<5 { _ = try c.roundTrip("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n") }
        _ = try c.roundTrip("GET /nope HTTP/1.1\r\nHost: t\r\n\r\n")
        let r = try c.roundTrip("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(r.status == 200)
        #expect(r.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
        let text = r.bodyText
        #expect(text.contains("aiwriter_http_requests_total{route=\"GET /healthz\",status=\"200\"} "))
        // A real parser: Python's prometheus_client reads every family and sample.
        let script = """
        import sys
        from prometheus_client.parser import text_string_to_metric_families
        fams = {f.name: f for f in text_string_to_metric_families(sys.stdin.read())}
        reqs = [s for s in fams['aiwriter_http_requests'].samples if s.labels.get('route') == 'GET /healthz' and s.labels.get('status') == '200']
        assert reqs and reqs[0].value >= 5, reqs
        hist = fams['aiwriter_http_request_duration_seconds']
        assert hist.type == 'histogram'
        counts = [s for s in hist.samples if s.name.endswith('_count') and s.labels['route'] == 'GET /healthz']
        assert counts and counts[0].value >= 5
        assert fams['aiwriter_http_connections_open'].samples[0].value >= 1
        print('ok', len(fams))
        """
        let (status, out, err) = try run([python, "-c", script], input: text)
        #expect(status == 0, "prometheus_client rejected /metrics: \(err)")
        #expect(out.hasPrefix("ok"))
    }
}
