import Foundation
import Testing
import TestSupport
@testable import Net
#if canImport(Glibc)
import Glibc
#endif

/// Answers by path: "/echo" echoes method, path, query and body; "/slow?ms=N" answers after
/// N ms from a loop timer (an asynchronous handler); "/stream" streams three chunks.
final class EchoHandler: HTTPHandler {
    func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let path = request.rawPath
        switch path {
        case "/slow":
            let ms = UInt64(request.query("ms") ?? "50") ?? 50
            let text = "slow \(request.query("id") ?? "")"
            responder.loop.schedule(afterMilliseconds: ms) {
                responder.send(status: .ok, contentType: "text/plain", body: .string(text))
            }
        case "/stream":
            responder.startStream(status: .ok, contentType: "text/plain")
            responder.writeChunk("one ")
            responder.loop.schedule(afterMilliseconds: 20) {
                responder.writeChunk("two ")
                responder.writeChunk("three")
                responder.finishStream()
            }
        case "/nocontent":
            responder.send(status: .noContent, body: .string("ignored"))
        default:
            let body = "\(request.method) \(path) \(request.rawQuery ?? "-") \(String(decoding: request.bodyBytes, as: UTF8.self))"
            responder.send(status: .ok, contentType: "text/plain", headers: [("X-Evil", "a\r\nInjected: yes"), ("X-Good", "yes")], body: .string(body))
        }
    }
}

@Suite("HTTP server over real sockets", .serialized)
final class HTTPServerTests {
    let server: TestServer

    init() throws {
        server = try TestServer(configure: { c in
            c.headerTimeoutMs = 1500
            c.bodyTimeoutMs = 1500
            c.idleTimeoutMs = 2000
            c.lingerTimeoutMs = 500
            c.limits.maxHeadBytes = 4096
            c.limits.maxBodyBytes = 1024
        }, handler: EchoHandler())
    }

    deinit { server.shutdown() }

    /// (name, raw request, expected status, whether the server must close afterwards)
    static let table: [(String, String, Int, Bool)] = [
        ("GET", "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", 200, false),
        ("GET with query", "GET /echo?a=1&b=2 HTTP/1.1\r\nHost: t\r\n\r\n", 200, false),
        ("POST with body", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody", 200, false),
        ("chunked POST", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n", 200, false),
        ("Connection: close", "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 200, true),
        ("HTTP/1.0", "GET /echo HTTP/1.0\r\n\r\n", 200, true),
        ("HTTP/1.0 keep-alive", "GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200, false),
        ("CL + TE", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, true),
        ("two CL", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nbody", 400, true),
        ("TE not chunked", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 400, true),
        ("unknown coding", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, true),
        ("obs-fold", "GET /echo HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", 400, true),
        ("bare CR", "GET /echo HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n", 400, true),
        ("NUL", "GET /echo HTTP/1.1\r\nHost: t\r\nX: a\u{0}b\r\n\r\n", 400, true),
        ("no Host", "GET /echo HTTP/1.1\r\n\r\n", 400, true),
        ("HTTP/2.0 line", "GET /echo HTTP/2.0\r\nHost: t\r\n\r\n", 505, true),
        ("garbage", "\u{1}\u{2}\u{3} hello\r\n\r\n", 400, true),
        ("431", "GET /echo HTTP/1.1\r\nHost: t\r\nX-Big: \(String(repeating: "x", count: 5000))\r\n\r\n", 431, true),
        ("414", "GET /\(String(repeating: "x", count: 5000)) HTTP/1.1\r\nHost: t\r\n\r\n", 414, true),
        ("413 by length", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n", 413, true),
        ("413 chunked", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n\(String(repeating: "y", count: 2048))\r\n0\r\n\r\n", 413, true),
        ("TE on 1.0", "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, true),
    ]

    @Test("request table: status and close", arguments: HTTPServerTests.table.indices)
    func requestTable(_ i: Int) throws {
        let (name, request, status, closes) = HTTPServerTests.table[i]
        let client = try RawClient(port: server.port, timeoutSeconds: 3)
        let response = try client.roundTrip(request)
        #expect(response.status == status, "\(name)")
        if closes {
            #expect(client.waitForClose(), "\(name): the server must close")
        } else {
            let again = try client.roundTrip("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(again.status == 200, "\(name): the connection must stay usable")
        }
        if status >= 400 {
            #expect(response.header("Connection")?.lowercased() == "close", "\(name)")
        }
    }

    @Test func tenPipelinedRequestsInOneWriteGetTenOrderedResponses() throws {
        let client = try RawClient(port: server.port)
        var batch = ""
        for i in 0..<10 {
            // Every third one is answered asynchronously, later than the ones after it would be.
            batch += i % 3 == 0 ? "GET /slow?ms=30&id=\(i) HTTP/1.1\r\nHost: t\r\n\r\n" : "GET /echo?i=\(i) HTTP/1.1\r\nHost: t\r\n\r\n"
        }
        #expect(client.send(batch))
        for i in 0..<10 {
            let r = try client.readResponse()
            #expect(r.status == 200)
            #expect(r.bodyText == (i % 3 == 0 ? "slow \(i)" : "GET /echo i=\(i) "), "response \(i)")
        }
    }

    @Test func deepPipelineIsAnsweredCompletely() throws {
        let client = try RawClient(port: server.port)
        let count = 2000
        let batch = String(repeating: "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", count: count)
        #expect(client.send(batch))
        for _ in 0..<count { #expect(try client.readResponse().status == 200) }
    }

    @Test func headAnswersWithoutBody() throws {
        let client = try RawClient(port: server.port)
        let r = try client.roundTrip("HEAD /echo HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(r.status == 200)
        #expect(Int(r.header("Content-Length") ?? "") == "HEAD /echo - ".utf8.count)
        // The next response must start right after the head: no stray body bytes.
        #expect(try client.roundTrip("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n").bodyText == "GET /echo - ")
    }

    @Test func noContentHasNoBodyAndNoLength() throws {
        let client = try RawClient(port: server.port)
        let r = try client.roundTrip("GET /nocontent HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(r.status == 204)
        #expect(r.header("Content-Length") == nil)
        #expect(try client.roundTrip("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n").status == 200)
    }

    @Test func handlerHeadersCannotSplitTheResponse() throws {
        let client = try RawClient(port: server.port)
        let r = try client.roundTrip("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(r.header("Injected") == nil)
        #expect(r.header("X-Evil") == nil)
        #expect(r.header("X-Good") == "yes")
    }

    @Test func expectContinueGets100BeforeTheBody() throws {
        let client = try RawClient(port: server.port)
        client.send("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        let interim = try client.readResponse()
        #expect(interim.status == 100)
        client.send("hello")
        let final = try client.readResponse()
        #expect(final.status == 200)
        #expect(final.bodyText == "POST /echo - hello")
    }

    @Test func expectContinueOverTheLimitGets413WithoutContinue() throws {
        let client = try RawClient(port: server.port)
        let r = try client.roundTrip("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n")
        #expect(r.status == 413)
    }

    @Test func chunkedStreamingResponse() throws {
        let client = try RawClient(port: server.port)
        let r = try client.roundTrip("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(r.header("Transfer-Encoding") == "chunked")
        #expect(r.bodyText == "one two three")
        #expect(try client.roundTrip("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n").status == 200)
    }

    @Test func requestIdIsEchoedWhenSaneAndGeneratedOtherwise() throws {
        let client = try RawClient(port: server.port)
        let echoed = try client.roundTrip("GET /echo HTTP/1.1\r\nHost: t\r\nX-Request-Id: abc-123\r\n\r\n")
        #expect(echoed.header("X-Request-Id") == "abc-123")
        let generated = try client.roundTrip("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
        let id = generated.header("X-Request-Id") ?? ""
        #expect(id.count == 16 && id.allSatisfy(\.isHexDigit))
        let tooLong = try client.roundTrip("GET /echo HTTP/1.1\r\nHost: t\r\nX-Request-Id: \(String(repeating: "a", count: 300))\r\n\r\n")
        #expect(tooLong.header("X-Request-Id")?.count == 16)
    }

    @Test func slowlorisIsCutAtTheHeaderTimeout() throws {
        let client = try RawClient(port: server.port, timeoutSeconds: 6)
        let start = Date()
        let request = Array("GET /echo HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n".utf8)
        var sentAll = true
        for byte in request {
            if !client.send([byte]) { sentAll = false; break }
            usleep(250_000)
            if Date().timeIntervalSince(start) > 4 { break }
        }
        _ = sentAll
        // 1.5 s header timeout, checked once a second: closed within about 3 s, never answered 200.
        let response = try? client.readResponse()
        #expect(response?.status == 408 || response == nil)
        #expect(client.waitForClose())
        #expect(Date().timeIntervalSince(start) < 4.5)
    }

    @Test func slowBodyIsCutAtTheBodyTimeout() throws {
        let client = try RawClient(port: server.port, timeoutSeconds: 6)
        client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc")
        let start = Date()
        let response = try client.readResponse()
        #expect(response.status == 408)
        #expect(client.waitForClose())
        #expect(Date().timeIntervalSince(start) < 4)
    }

    @Test func idleKeepAliveConnectionIsClosed() throws {
        let client = try RawClient(port: server.port, timeoutSeconds: 6)
        #expect(try client.roundTrip("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n").status == 200)
        let start = Date()
        #expect(client.waitForClose())
        let waited = Date().timeIntervalSince(start)
        #expect(waited > 1 && waited < 4.5)
    }

    @Test func clientHalfCloseStillGetsItsResponse() throws {
        let client = try RawClient(port: server.port)
        client.send("GET /slow?ms=50&id=h HTTP/1.1\r\nHost: t\r\n\r\n")
        client.shutdownWrite()
        let r = try client.readResponse()
        #expect(r.bodyText == "slow h")
        #expect(client.waitForClose())
    }

    @Test func twoThousandConcurrentKeepAliveConnections() throws {
        var clients: [RawClient] = []
        for _ in 0..<2000 { clients.append(try RawClient(port: server.port, timeoutSeconds: 10)) }
        for round in 0..<2 {
            for (i, c) in clients.enumerated() { #expect(c.send("GET /echo?c=\(i)&r=\(round) HTTP/1.1\r\nHost: t\r\n\r\n")) }
            for (i, c) in clients.enumerated() {
                let r = try c.readResponse()
                #expect(r.bodyText == "GET /echo c=\(i)&r=\(round) ")
            }
        }
        let open = server.server.stats().connectionsOpen
        #expect(open >= 2000)
    }
}

@Suite("Connection limits")
struct ConnectionLimitTests {
    @Test func connectionsOverTheLoopLimitAreClosedAtAccept() throws {
        let server = try TestServer(loops: 1, configure: { $0.maxConnectionsPerLoop = 3 }, handler: EchoHandler())
        defer { server.shutdown() }
        let kept = try (0..<3).map { _ in try RawClient(port: server.port) }
        for c in kept { #expect(try c.roundTrip("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n").status == 200) }
        let extra = try RawClient(port: server.port)
        extra.send("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(extra.waitForClose())
        #expect(server.server.stats().connectionsRejected >= 1)
    }

    @Test func aClientThatNeverReadsIsDroppedAtTheSendTimeout() throws {
        let server = try TestServer(loops: 1, configure: { $0.sendTimeoutMs = 1000 }, handler: EchoHandler())
        defer { server.shutdown() }
        let client = try RawClient(port: server.port, timeoutSeconds: 1)
        // Far more responses than the socket buffers hold; the client reads none of them.
        let batch = [UInt8](String(repeating: "GET /echo?padding=\(String(repeating: "x", count: 200)) HTTP/1.1\r\nHost: t\r\n\r\n", count: 500).utf8)
        let start = Date()
        while Date().timeIntervalSince(start) < 3 && client.send(batch) {}
        // The server stops reading (backpressure), its writes stall, and the send timeout
        // (1 s, checked once a second) closes the connection.
        let deadline = Date().addingTimeInterval(6)
        while server.server.stats().connectionsOpen > 0 && Date() < deadline { usleep(50_000) }
        #expect(server.server.stats().connectionsOpen == 0)
        #expect(server.server.stats().timeouts >= 1)
    }

    @Test func pipelinedResponsesAreNotQueuedWithoutLimit() throws {
        // A client that pipelines a lot and reads nothing must not grow the server's memory
        // without bound: reading pauses once responses are queued.
        let server = try TestServer(loops: 1, configure: { $0.maxPipelinedResponses = 4 }, handler: EchoHandler())
        defer { server.shutdown() }
        let client = try RawClient(port: server.port)
        let count = 3000
        #expect(client.send(String(repeating: "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", count: count)))
        for _ in 0..<count { #expect(try client.readResponse().status == 200) }
    }
}
