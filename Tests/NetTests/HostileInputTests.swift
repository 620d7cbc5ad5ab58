import Foundation
import Testing
import TestSupport
@testable import Net

/// Mutated and random requests over real sockets: every connection must end in a response or
/// a close (never a hang), the loops must survive, and a well-formed request must still be
/// served afterwards with no connection left behind.
@Suite("Hostile input over sockets")
struct HostileInputTests {
    static let seeds: [String] = [
        "GET /echo?a=1 HTTP/1.1\r\nHost: t\r\nX-Request-Id: abc\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
        "PUT /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "GET /slow?ms=5 HTTP/1.1\r\nHost: t\r\n\r\nGET /echo HTTP/1.1\r\nHost: t\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
    ]

    @Test func mutatedRequestsNeverHangOrKillALoop() throws {
        let server = try TestServer(configure: { c in
            c.headerTimeoutMs = 1000
            c.bodyTimeoutMs = 1000
            c.lingerTimeoutMs = 300
            c.limits.maxBodyBytes = 4096
        }, handler: EchoHandler())
        defer { server.shutdown() }
        var rng = SplitMix(state: 42)
        for round in 0..<300 {
            var bytes = Array(Self.seeds[round % Self.seeds.count].utf8)
            for _ in 0..<Int.random(in: 1...6, using: &rng) where !bytes.isEmpty {
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<5, using: &rng) {
                case 0: bytes[i] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: i)
                case 2: if bytes.count > 1 { bytes.remove(at: i) }
                case 3: bytes.insert(contentsOf: [13, 10, 32, 0, 9].shuffled(using: &rng).prefix(2), at: i)
                default: bytes = Array(bytes.prefix(i))
                }
            }
            let client = try RawClient(port: server.port, timeoutSeconds: 3)
            if bytes.isEmpty { bytes = [0x0D] }
            _ = client.send(bytes)
            client.shutdownWrite()
            // Responses until the server closes; a bounded wait, never a hang.
            var answered = 0
            while (try? client.readResponse()) != nil { answered += 1 }
            #expect(client.sawEOF || answered > 0, "round \(round) neither answered nor closed")
        }
        let fresh = try RawClient(port: server.port)
        #expect(try fresh.roundTrip("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n").status == 200)
        // Every mutated connection has been closed (the fresh one stays).
        let deadline = Date().addingTimeInterval(5)
        while server.server.stats().connectionsOpen > 1 && Date() < deadline { usleep(50_000) }
        #expect(server.server.stats().connectionsOpen <= 1)
        #expect(server.server.stats().protocolErrors > 0)
    }
}
