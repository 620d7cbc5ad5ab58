import Foundation
import Net
import Testing
import TestSupport

/// Read-your-writes with a read replica configured, on a real `aiwriter` and PostgreSQL. The
/// "replica" here is the primary itself (not in recovery: it reports no replay position), so a
/// read carrying a token can never be proven replayed and must go to the primary — the safe
/// side. The lagging standby itself is exercised by `deploy/scale` (the replica-lag fault).
@Suite("Read your writes", .serialized)
struct ReadYourWritesTests {
    @Test("writes answer X-AIWriter-Read-After; reads carrying it see the write; a malformed one is 400")
    func tokenRoundTrip() throws {
        let database = try RateLimitTests.database()
        let (_, secret) = try RateLimitTests.createKey(database, tenant: "ryw", role: "writer", rate: "100000/s", burst: 100000)
        let (gateway, port) = try RateLimitTests.startGateway(database, ["--database-replica-url", database])
        defer { gateway.signal(SIGKILL) }

        let created = try DocumentCacheTests.request(port, "POST", "/v1/documents", secret: secret, body: #"{"title":"t","content":"one"}"#)
        #expect(created.status == 201)
        let token = try #require(created.header("X-AIWriter-Read-After"))
        #expect(WALPositionShape.matches(token))
        let id = try #require(DocumentCacheTests.field(created, "id"))

        let read = try DocumentCacheTests.request(port, "GET", "/v1/documents/\(id)", secret: secret,
                                                  headers: "X-AIWriter-Read-After: \(token)\r\n")
        #expect(read.status == 200)
        #expect(read.header("X-AIWriter-Read-After") == nil)
        let listed = try DocumentCacheTests.request(port, "GET", "/v1/documents", secret: secret, headers: "X-AIWriter-Read-After: \(token)\r\n")
        #expect(listed.status == 200)

        let put = try DocumentCacheTests.request(port, "PUT", "/v1/documents/\(id)", secret: secret,
                                                 headers: "If-Match: \(read.header("ETag") ?? "")\r\n", body: #"{"title":"t","content":"two"}"#)
        #expect(put.status == 200)
        let later = try #require(put.header("X-AIWriter-Read-After"))
        #expect(later != token)

        for bad in ["yesterday", "0/", "123456789/0", "0/1/2"] {
            let refused = try DocumentCacheTests.request(port, "GET", "/v1/documents/\(id)", secret: secret,
                                                         headers: "X-AIWriter-Read-After: \(bad)\r\n")
            #expect(refused.status == 400, "token \(bad)")
        }

        // Every read after a position went to the primary (this "standby" reports none), counted.
        let metrics = try RateLimitTests.get(port, "/metrics", secret: nil)
        let text = String(decoding: metrics.body, as: UTF8.self)
        let line = text.split(separator: "\n").first { $0.hasPrefix("aiwriter_db_reads_after_position_on_primary_total ") }
        #expect(line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0 >= 2)
    }
}

enum WALPositionShape {
    static func matches(_ text: String) -> Bool {
        let halves = text.split(separator: "/", omittingEmptySubsequences: false)
        return halves.count == 2 && halves.allSatisfy { !$0.isEmpty && $0.count <= 8 && $0.allSatisfy(\.isHexDigit) }
    }
}
