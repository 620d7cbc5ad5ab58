import Dispatch
import Foundation
import Gateway
import Net
import Storage
import Synchronization
import Testing
import TestSupport

/// The document read-through cache on real `aiwriter` processes: two replicas on one PostgreSQL
/// and one Redis never serve a version older than one already acknowledged, under concurrent
/// writers and readers; Redis stopped, reads go to the database and are counted; Redis back,
/// the cache is used again by itself.
@Suite("Document cache", .serialized)
struct DocumentCacheTests {
    static func request(_ port: Int, _ method: String, _ path: String, secret: String, headers: String = "", body: String = "") throws -> HTTPTestResponse {
        let client = try RawClient(port: port)
        var text = "\(method) \(path) HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(secret)\r\n\(headers)"
        if !body.isEmpty || method == "PUT" || method == "POST" { text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
        return try client.roundTrip(text + "\r\n" + body)
    }

    static func field(_ r: HTTPTestResponse, _ name: String) -> Int? {
        ((try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any])?[name] as? Int
    }

    static func version(_ r: HTTPTestResponse) -> Int? { field(r, "version") }

    @Test("two replicas, one Redis: a read never returns a version older than an acknowledged write")
    func neverStaleAcrossReplicas() throws {
        let redis = try RedisServer()
        defer { redis.stop() }
        let database = try RateLimitTests.database()
        let (_, secret) = try RateLimitTests.createKey(database, tenant: "docs", role: "writer", rate: "100000/s", burst: 100000)
        let replicas = try (0..<2).map { _ in try RateLimitTests.startGateway(database, ["--redis-url", redis.url]) }
        defer { for (g, _) in replicas { g.signal(SIGKILL) } }
        let ports = replicas.map(\.1)
        let created = try Self.request(ports[0], "POST", "/v1/documents", secret: secret, body: #"{"title":"t","content":"0"}"#)
        #expect(created.status == 201)
        let id = try #require(Self.field(created, "id"))

        // The newest version any writer has had acknowledged.
        let acknowledged = Mutex(1)
        let violations = Mutex<[String]>([])
        let writes = Mutex(0)
        let stop = Atomic<Bool>(false)
        let writersDone = Atomic<Int>(0)
        let group = DispatchGroup()
        // Two writers (one per replica) race with each other; after each acknowledged write the
        // other replica must already answer that version or a newer one.
        for w in 0..<2 {
            group.enter()
            Thread.detachNewThread {
                defer { writersDone.add(1, ordering: .relaxed); group.leave() }
                for _ in 0..<40 {
                    guard let current = try? Self.request(ports[w], "GET", "/v1/documents/\(id)", secret: secret),
                          let tag = current.header("ETag") else { continue }
                    guard let put = try? Self.request(ports[w], "PUT", "/v1/documents/\(id)", secret: secret, headers: "If-Match: \(tag)\r\n",
                                                      body: #"{"title":"t","content":"w\#(w)"}"#) else { continue }
                    guard put.status == 200, let v = Self.version(put) else { continue }
                    writes.withLock { $0 += 1 }
                    acknowledged.withLock { $0 = max($0, v) }
                    let seen = (try? Self.request(ports[1 - w], "GET", "/v1/documents/\(id)", secret: secret)).flatMap(Self.version) ?? -1
                    if seen < v { violations.withLock { $0.append("wrote \(v) on \(w), other replica read \(seen)") } }
                }
            }
        }
        // Readers on both replicas keep filling the cache with whatever they last read.
        for r in 0..<2 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                while !stop.load(ordering: .relaxed) {
                    let floor = acknowledged.withLock { $0 }
                    guard let read = try? Self.request(ports[r], "GET", "/v1/documents/\(id)", secret: secret), let v = Self.version(read) else { continue }
                    if v < floor { violations.withLock { $0.append("read \(v) on \(r) after \(floor) was acknowledged") } }
                }
            }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + 60) { stop.store(true, ordering: .relaxed) }
        // The writers finish first; then the readers are told to stop.
        while writersDone.load(ordering: .relaxed) < 2 && !stop.load(ordering: .relaxed) { usleep(50_000) }
        usleep(200_000)
        stop.store(true, ordering: .relaxed)
        group.wait()
        let stale = violations.withLock { $0 }
        #expect(stale.count == 0, "\(stale.count) stale reads, e.g. \(stale.prefix(3))")
        #expect(writes.withLock { $0 } >= 20, "the writers got \(writes.withLock { $0 }) writes through")
        let metrics = try RateLimitTests.get(ports[0], "/metrics", secret: nil).bodyText
        #expect(metrics.contains("aiwriter_document_cache_hits_total"))
        #expect(!metrics.contains("aiwriter_document_cache_hits_total 0\n"), "the cache answered some reads")
    }

    @Test("Redis stopped: reads go to the database, counted; Redis back: the cache serves again")
    func redisDown() throws {
        let redis = try RedisServer()
        defer { redis.stop() }
        let database = try RateLimitTests.database()
        let (_, secret) = try RateLimitTests.createKey(database, tenant: "down", role: "writer", rate: "100000/s", burst: 100000)
        let (gateway, port) = try RateLimitTests.startGateway(database, ["--redis-url", redis.url])
        defer { gateway.signal(SIGKILL) }
        let created = try Self.request(port, "POST", "/v1/documents", secret: secret, body: #"{"title":"t","content":"c"}"#)
        #expect(created.status == 201)
        let id = try #require(Self.field(created, "id"))
        #expect(try Self.request(port, "GET", "/v1/documents/\(id)", secret: secret).status == 200)

        redis.stop()
        usleep(300_000)
        for _ in 0..<3 { #expect(try Self.request(port, "GET", "/v1/documents/\(id)", secret: secret).status == 200) }
        // A write while Redis is down is acknowledged; the next reads must still see it.
        let put = try Self.request(port, "PUT", "/v1/documents/\(id)", secret: secret, headers: "If-Match: \"\(id)-1\"\r\n",
                                   body: #"{"title":"t","content":"while down"}"#)
        #expect(put.status == 200)
        let errors = try RateLimitTests.get(port, "/metrics", secret: nil).bodyText
        #expect(errors.contains("aiwriter_document_cache_errors_total") && !errors.contains("aiwriter_document_cache_errors_total 0\n"))

        try redis.start()
        var hitsBefore = -1
        var serving = false
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline && !serving {
            let read = try Self.request(port, "GET", "/v1/documents/\(id)", secret: secret)
            #expect(Self.version(read) == 2, "never the version from before the outage")
            let text = try RateLimitTests.get(port, "/metrics", secret: nil).bodyText
            let hits = text.split(separator: "\n").first { $0.hasPrefix("aiwriter_document_cache_hits_total ") }.flatMap { Int($0.split(separator: " ").last!) } ?? 0
            if hitsBefore >= 0 && hits > hitsBefore { serving = true }
            hitsBefore = hits
            usleep(100_000)
        }
        #expect(serving, "the cache answers again after Redis returns")
    }
}
