import Foundation
import Net
import Storage
import Testing
@testable import Gateway

/// The collections feature through the real router, stages, Store and index, without sockets:
/// both API surfaces, their error shapes, tenant isolation, every kind of bad input, and the
/// index's life (deletes, updates, restarts from rows and from snapshots).
@Suite("Collections", .serialized)
struct CollectionsTests {
    static func json(_ r: HTTPResponseRecorder) -> Any? { try? JSONSerialization.jsonObject(with: Data(r.body), options: [.fragmentsAllowed]) }

    static func vector(_ seed: Int, dimension: Int = 8) -> [Float] {
        var x = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 &+ 1
        return (0..<dimension).map { _ in
            x = x &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: x >> 11) % 2000 - 1000) / 1000
        }
    }

    static func text(_ v: [Float]) -> String { "[" + v.map { "\($0)" }.joined(separator: ",") + "]" }

    func auth(_ key: String) -> [(String, String)] { [("Authorization", "Bearer \(key)"), ("Content-Type", "application/json")] }

    /// A collection `name` with `count` records `r<i>` (metadata n, parity, tag), via the native API.
    func seed(_ h: GatewayHarness, _ key: String, _ name: String, count: Int, metric: String = "l2", efConstruction: Int = 200) throws {
        let created = try h.send("POST", "/v1/collections", headers: auth(key),
                                 body: #"{"name":"\#(name)","dimension":8,"metric":"\#(metric)","ef_construction":\#(efConstruction)}"#)
        #expect(created.code == 201, "\(created.bodyText)")
        var start = 0
        while start < count {
            let records = (start..<min(count, start + 500)).map { i in
                #"{"id":"r\#(i)","vector":\#(CollectionsTests.text(CollectionsTests.vector(i))),"metadata":{"n":\#(i),"even":\#(i % 2 == 0),"tag":"t\#(i % 10)"},"document":"document \#(i)"}"#
            }
            let r = try h.send("POST", "/v1/collections/\(name)/records", headers: auth(key), body: #"{"records":[\#(records.joined(separator: ","))]}"#)
            #expect(r.code == 200, "\(r.bodyText)")
            start += 500
        }
    }

    func nearest(_ h: GatewayHarness, _ key: String, _ name: String, _ v: [Float], k: Int = 1, filter: String? = nil) throws -> [String] {
        let body = #"{"vector":\#(CollectionsTests.text(v)),"k":\#(k)\#(filter.map { #","where":\#($0)"# } ?? "")}"#
        let r = try h.send("POST", "/v1/collections/\(name)/query", headers: auth(key), body: body)
        guard r.code == 200, let object = CollectionsTests.json(r) as? [String: Any], let results = object["results"] as? [[[String: Any]]] else {
            Issue.record("query failed: \(r.code) \(r.bodyText)")
            return []
        }
        return results[0].compactMap { $0["id"] as? String }
    }

    @Test("native API: create, upsert, query exactly like brute force, filters, get, count, delete")
    func native() throws {
        let h = try GatewayHarness()
        let key = h.key(.writer, rate: 1_000_000, burst: 1_000_000)
        try seed(h, key, "notes", count: 1200)
        let again = try h.send("POST", "/v1/collections", headers: auth(key), body: #"{"name":"notes","dimension":8}"#)
        #expect(again.code == 409 && again.errorType == "conflict")

        // Every record is its own nearest neighbour; results match a brute-force scan.
        for i in stride(from: 0, to: 1200, by: 97) {
            #expect(try nearest(h, key, "notes", CollectionsTests.vector(i)) == ["r\(i)"])
        }
        let q = CollectionsTests.vector(99_999)
        let exact = (0..<1200).map { i -> (String, Float) in
            let v = CollectionsTests.vector(i)
            return ("r\(i)", zip(v, q).map { ($0 - $1) * ($0 - $1) }.reduce(0, +))
        }.sorted { $0.1 < $1.1 }
        let got = try nearest(h, key, "notes", q, k: 10)
        #expect(Set(got).intersection(exact.prefix(10).map(\.0)).count >= 9, "\(got) vs \(exact.prefix(10))")

        // A filter: only even records with n ≥ 1000; checked against the metadata rule.
        let filtered = try nearest(h, key, "notes", q, k: 50, filter: #"{"$and":[{"even":true},{"n":{"$gte":1000}}]}"#)
        #expect(filtered.count == 50)
        #expect(filtered.allSatisfy { Int($0.dropFirst())! % 2 == 0 && Int($0.dropFirst())! >= 1000 })

        let count = try h.send("GET", "/v1/collections/notes/count", headers: auth(key))
        #expect((CollectionsTests.json(count) as? [String: Any])?["count"] as? Int == 1200)
        let got2 = try h.send("POST", "/v1/collections/notes/records/get", headers: auth(key),
                              body: #"{"ids":["r5","missing","r7"],"include":["metadatas","documents","embeddings"]}"#)
        let records = (CollectionsTests.json(got2) as? [String: Any])?["records"] as? [[String: Any]] ?? []
        #expect(records.map { $0["id"] as? String } == ["r5", "r7"])
        #expect(records.first?["document"] as? String == "document 5")
        #expect((records.first?["vector"] as? [Double])?.map { Float($0) } == CollectionsTests.vector(5))

        let deleted = try h.send("POST", "/v1/collections/notes/records/delete", headers: auth(key), body: #"{"where":{"tag":"t3"}}"#)
        #expect((CollectionsTests.json(deleted) as? [String: Any])?["deleted"] as? Int == 120)
        #expect(try nearest(h, key, "notes", CollectionsTests.vector(13), k: 1) != ["r13"])
        let after = try h.send("GET", "/v1/collections/notes/count", headers: auth(key))
        #expect((CollectionsTests.json(after) as? [String: Any])?["count"] as? Int == 1080)

        let dropped = try h.send("DELETE", "/v1/collections/notes", headers: auth(key))
        #expect(dropped.code == 200)
        #expect(try h.send("GET", "/v1/collections/notes/count", headers: auth(key)).code == 404)
    }

    @Test("bad input is a clear 4xx and stores nothing of the batch")
    func badInput() throws {
        let h = try GatewayHarness()
        let key = h.key(.writer, rate: 1_000_000, burst: 1_000_000)
        try seed(h, key, "bad", count: 10)
        let v = CollectionsTests.text(CollectionsTests.vector(1))
        let cases: [(String, String, Int, String)] = [
            ("wrong dimension", #"{"records":[{"id":"x1","vector":[1,2,3]}]}"#, 422, "dimension"),
            ("beyond float32", #"{"records":[{"id":"x2","vector":[1e39,0,0,0,0,0,0,0]}]}"#, 400, "float32"),
            ("not a number", #"{"records":[{"id":"x3","vector":[1,2,3,"4",5,6,7,8]}]}"#, 400, "number"),
            ("empty id", #"{"records":[{"id":"","vector":\#(v)}]}"#, 422, "empty"),
            ("long id", #"{"records":[{"id":"\#(String(repeating: "a", count: 600))","vector":\#(v)}]}"#, 422, "512"),
            ("repeated id", #"{"records":[{"id":"d","vector":\#(v)},{"id":"d","vector":\#(v)}]}"#, 422, "unique"),
            ("nested metadata", #"{"records":[{"id":"x4","vector":\#(v),"metadata":{"a":{"b":1}}}]}"#, 422, "object"),
            ("array metadata", #"{"records":[{"id":"x5","vector":\#(v),"metadata":{"a":[1]}}]}"#, 422, "array"),
            ("unknown field", #"{"records":[{"id":"x6","vector":\#(v),"colour":"red"}]}"#, 422, "unknown"),
            ("unknown top field", #"{"records":[],"upsert":true}"#, 422, "unknown"),
            ("broken JSON", #"{"records":[{"id":"x7","vector":[1,2"#, 400, "JSON"),
            // Valid UTF-8 that looks like a decoding accident is data; raw invalid UTF-8 (which
            // a String body cannot carry) is refused in Tests/python/chroma_client_test.py.
            ("U+FFFD in an id", "{\"records\":[{\"id\":\"\u{FFFD}\",\"vector\":\(v)}]}", 200, ""),
            ("no records", #"{}"#, 422, "records"),
        ]
        for (name, body, status, needle) in cases {
            let r = try h.send("POST", "/v1/collections/bad/records", headers: auth(key), body: body)
            #expect(r.code == status, "\(name): \(r.code) \(r.bodyText)")
            if !needle.isEmpty { #expect(r.errorMessage?.contains(needle) == true, "\(name): \(r.bodyText)") }
        }
        // A batch with one bad record stores none of it.
        let mixed = #"{"records":[{"id":"good","vector":\#(v)},{"id":"bad","vector":[1]}]}"#
        #expect(try h.send("POST", "/v1/collections/bad/records", headers: auth(key), body: mixed).code == 422)
        let found = try h.send("POST", "/v1/collections/bad/records/get", headers: auth(key), body: #"{"ids":["good"]}"#)
        #expect(((CollectionsTests.json(found) as? [String: Any])?["records"] as? [Any])?.isEmpty == true)

        let queries: [(String, String, String)] = [
            ("k zero", #"{"vector":\#(v),"k":0}"#, "n_results"),
            ("k absurd", #"{"vector":\#(v),"k":100000000}"#, "n_results"),
            ("unknown operator", #"{"vector":\#(v),"where":{"n":{"$near":1}}}"#, "$near"),
            ("bad $and", #"{"vector":\#(v),"where":{"$and":{"n":1}}}"#, "$and"),
            ("mixed $in", #"{"vector":\#(v),"where":{"n":{"$in":[1,"a"]}}}"#, "one type"),
            ("$gt on a string", #"{"vector":\#(v),"where":{"n":{"$gt":"a"}}}"#, "numbers"),
            ("regex", #"{"vector":\#(v),"where_document":{"$regex":"a.*"}}"#, "not supported"),
            ("unknown include", #"{"vector":\#(v),"include":["colours"]}"#, "colours"),
            ("wrong dimension", #"{"vector":[1,2]}"#, "dimension"),
        ]
        for (name, body, needle) in queries {
            let r = try h.send("POST", "/v1/collections/bad/query", headers: auth(key), body: body)
            #expect(r.code == 422, "\(name): \(r.code) \(r.bodyText)")
            #expect(r.errorMessage?.contains(needle) == true, "\(name): \(r.bodyText)")
        }
        let count = try h.send("GET", "/v1/collections/bad/count", headers: auth(key))
        // The ten seeded and the one with U+FFFD in its id (valid UTF-8); nothing of a refused batch.
        #expect((CollectionsTests.json(count) as? [String: Any])?["count"] as? Int == 11)
    }

    @Test("Chroma surface: error shapes, roles, tenants, databases, UUIDs, base64, add keeps, batch limit")
    func chroma() throws {
        let h = try GatewayHarness { $0.collections.maxBatchSize = 50 }
        let writer = h.key(.writer, rate: 1_000_000, burst: 1_000_000)
        let reader = h.key(.reader, rate: 1_000_000, burst: 1_000_000)
        let stranger = h.key(.writer, tenant: "other", rate: 1_000_000, burst: 1_000_000)
        let base = "/api/v2/tenants/default_tenant/databases/default_database"

        let noKey = try h.send("GET", "/api/v2/auth/identity")
        #expect(noKey.code == 401)
        #expect((CollectionsTests.json(noKey) as? [String: Any])?["error"] as? String == "AuthError")
        let typo = try h.send("GET", "/api/v2/tenants/default_tenant/nothing", headers: auth(writer))
        #expect(typo.code == 404 && (CollectionsTests.json(typo) as? [String: Any])?["error"] as? String == "NotFoundError")
        let preflight = CollectionsTests.json(try h.send("GET", "/api/v2/pre-flight-checks")) as? [String: Any]
        #expect(preflight?["max_batch_size"] as? Int == 50 && preflight?["supports_base64_encoding"] as? Bool == true)

        let created = try h.send("POST", base + "/collections", headers: auth(writer), body: #"{"name":"docs","configuration":{"hnsw":{"space":"cosine"}}}"#)
        let collection = CollectionsTests.json(created) as? [String: Any]
        let id = collection?["id"] as? String ?? ""
        #expect(created.code == 200 && id.count == 36, "\(created.bodyText)")
        #expect((collection?["configuration_json"] as? [String: Any])?["hnsw"] != nil)
        let duplicate = try h.send("POST", base + "/collections", headers: auth(writer), body: #"{"name":"docs"}"#)
        #expect(duplicate.code == 409)
        let same = try h.send("POST", base + "/collections", headers: auth(writer), body: #"{"name":"docs","get_or_create":true}"#)
        #expect((CollectionsTests.json(same) as? [String: Any])?["id"] as? String == id)

        // Embeddings as base64 float32, as the client sends them; add keeps what exists.
        func b64(_ v: [Float]) -> String { v.withUnsafeBytes { Data($0).base64EncodedString() } }
        let add = #"{"ids":["a","b"],"embeddings":["\#(b64([1, 0, 0, 0]))","\#(b64([0, 1, 0, 0]))"],"metadatas":[{"k":1},null],"documents":["first",null],"uris":null}"#
        let added = try h.send("POST", base + "/collections/\(id)/add", headers: auth(writer), body: add)
        #expect(added.code == 201, "\(added.bodyText)")
        let readd = #"{"ids":["a"],"embeddings":[[0,0,1,0]],"metadatas":[{"k":2}],"documents":["second"]}"#
        #expect(try h.send("POST", base + "/collections/\(id)/add", headers: auth(writer), body: readd).code == 201)
        let got = CollectionsTests.json(try h.send("POST", base + "/collections/\(id)/get", headers: auth(reader), body: #"{"ids":["a"]}"#)) as? [String: Any]
        #expect((got?["documents"] as? [String]) == ["first"])
        let query = try h.send("POST", base + "/collections/\(id)/query", headers: auth(reader),
                               body: #"{"query_embeddings":[[0.9,0.1,0,0]],"n_results":2,"include":["distances"]}"#)
        let answer = CollectionsTests.json(query) as? [String: Any]
        #expect((answer?["ids"] as? [[String]]) == [["a", "b"]], "\(query.bodyText)")
        #expect(answer?["documents"] is NSNull)

        // Readers read; they do not write.
        let readerWrite = try h.send("POST", base + "/collections/\(id)/upsert", headers: auth(reader), body: readd)
        #expect(readerWrite.code == 403 && (CollectionsTests.json(readerWrite) as? [String: Any])?["error"] as? String == "AuthorizationError")

        // Another tenant: not found by UUID on every route, nor by name, nor its tenant path.
        for (method, path, body) in [("POST", "/query", #"{"query_embeddings":[[1,0,0,0]]}"#), ("POST", "/get", "{}"),
                                     ("GET", "/count", ""), ("POST", "/add", readd), ("POST", "/delete", #"{"ids":["a"]}"#)] {
            let r = try h.send(method, base + "/collections/\(id)" + path, headers: auth(stranger), body: body)
            #expect(r.code == 404, "\(path): \(r.code) \(r.bodyText)")
        }
        #expect(try h.send("GET", base + "/collections/docs", headers: auth(stranger)).code == 404)
        #expect(try h.send("GET", "/api/v2/tenants/acme", headers: auth(stranger)).code == 404)
        // The right tenant, the wrong database: not found either.
        #expect(try h.send("POST", "/api/v2/tenants/default_tenant/databases", headers: auth(writer), body: #"{"name":"other_db"}"#).code == 200)
        #expect(try h.send("GET", "/api/v2/tenants/default_tenant/databases/other_db/collections/\(id)/count", headers: auth(writer)).code == 404)

        let cases: [(String, String, String)] = [
            ("/upsert", #"{"ids":["c"],"embeddings":["AAAA"]}"#, "float32"),
            ("/upsert", #"{"ids":["c"],"embeddings":["@@@@"]}"#, "base64"),
            ("/upsert", #"{"ids":["c","d"],"embeddings":[[1,0,0,0]]}"#, "entries"),
            ("/upsert", #"{"ids":["c"],"embeddings":[[1,0,0]]}"#, "dimension"),
            ("/upsert", #"{"ids":["c"],"embeddings":[[0,0,0,0]]}"#, "zeros"),
            ("/upsert", #"{"ids":["c"],"embeddings":[[1,0,0,0]],"metadatas":[{"a":[1,2]}]}"#, "array"),
            ("/upsert", #"{"ids":["c"],"embeddings":[[1,0,0,0]],"uris":["s3://x"]}"#, "uris"),
            ("/query", #"{"query_embeddings":[[1,0,0,0]],"n_results":0}"#, "n_results"),
            ("/query", #"{"query_embeddings":[[1,0,0,0]],"include":["data"]}"#, "data"),
            ("/query", #"{"query_embeddings":[[1,0,0,0]],"where":{"k":{"$bogus":1}}}"#, "$bogus"),
            ("/get", #"{"limit":-1}"#, "limit"),
            ("/get", #"{"where":{"$or":[]}}"#, "$or"),
        ]
        for (path, body, needle) in cases {
            let r = try h.send("POST", base + "/collections/\(id)" + path, headers: auth(writer), body: body)
            let object = CollectionsTests.json(r) as? [String: Any]
            #expect(r.code == 400 && object?["error"] as? String == "InvalidArgumentError", "\(body): \(r.code) \(r.bodyText)")
            #expect((object?["message"] as? String)?.contains(needle) == true, "\(body): \(r.bodyText)")
        }
        let big = (0..<51).map { "\"x\($0)\"" }.joined(separator: ",")
        let vectors = (0..<51).map { _ in "[1,0,0,0]" }.joined(separator: ",")
        let tooMany = try h.send("POST", base + "/collections/\(id)/upsert", headers: auth(writer), body: #"{"ids":[\#(big)],"embeddings":[\#(vectors)]}"#)
        #expect(tooMany.code == 413 && (CollectionsTests.json(tooMany) as? [String: Any])?["error"] as? String == "BatchSizeExceededError")
        #expect(try h.send("GET", base + "/collections/00000000-0000-4000-8000-000000000000/count", headers: auth(writer)).code == 404)
        #expect(try h.send("GET", base + "/collections/not-a-uuid/count", headers: auth(writer)).code == 400)
        #expect(try h.send("GET", base + "/collections/\(id.prefix(35))g/count", headers: auth(writer)).code == 400)
        #expect(try h.send("GET", base + "/collections/\(id.uppercased())/count", headers: auth(reader)).code == 200)
        let count = try h.send("GET", base + "/collections/\(id)/count", headers: auth(reader))
        #expect(count.bodyText.trimmingCharacters(in: .whitespacesAndNewlines) == "2")
    }

    @Test("after 50 % deletes and 30 % upserts every live record is found at rank 1 by its own vector")
    func deletesAndUpdates() throws {
        let h = try GatewayHarness()
        let key = h.key(.writer, rate: 1_000_000, burst: 1_000_000)
        try seed(h, key, "churn", count: 2000)
        let doomed = (0..<2000).filter { $0 % 2 == 1 }.map { "\"r\($0)\"" }
        let deleted = try h.send("POST", "/v1/collections/churn/records/delete", headers: auth(key), body: #"{"ids":[\#(doomed.joined(separator: ","))]}"#)
        #expect((CollectionsTests.json(deleted) as? [String: Any])?["deleted"] as? Int == 1000)
        // 600 of the survivors move to new vectors.
        let moved = (0..<2000).filter { $0 % 2 == 0 }.prefix(600)
        let records = moved.map { i in #"{"id":"r\#(i)","vector":\#(CollectionsTests.text(CollectionsTests.vector(i + 50_000)))}"# }
        #expect(try h.send("POST", "/v1/collections/churn/records", headers: auth(key), body: #"{"records":[\#(records.joined(separator: ","))]}"#).code == 200)
        var misses: [Int] = []
        for i in stride(from: 0, to: 2000, by: 2) {
            let v = CollectionsTests.vector(moved.contains(i) ? i + 50_000 : i)
            if try nearest(h, key, "churn", v) != ["r\(i)"] { misses.append(i) }
        }
        #expect(misses.isEmpty, "not found at rank 1: \(misses.prefix(20))")
    }

    /// Drives the loop until background linking and rebuilds are done (or 20 s pass).
    func settle(_ h: GatewayHarness, _ key: String, _ name: String) throws {
        for _ in 0..<2_000 {
            let busy = h.collectionsEngine?.loaded.contains { $0.pendingCount > 0 || $0.needsRebuild || $0.inserting.load(ordering: .relaxed) } ?? false
            if !busy { return }
            // Turn the loop a while: linking reports back to it.
            h.loop.runOnCallingThread(timeoutMilliseconds: 10, until: { false }) {}
        }
        for live in h.collectionsEngine?.loaded ?? [] {
            Issue.record("still busy: pending \(live.pendingCount), rebuild \(live.needsRebuild), linking \(live.inserting.load(ordering: .relaxed)), slots \(live.graph?.slots ?? -1), live \(live.graph?.count ?? -1)")
        }
    }

    @Test("ten cycles of delete-everything-and-reload keep the index within 1.1x of a fresh build; tombstones trigger a rebuild")
    func memoryIsBounded() throws {
        let h = try GatewayHarness()
        let key = h.key(.writer, rate: 1_000_000, burst: 1_000_000)
        // A small build effort: the debug build links slowly, and the test waits for it.
        try seed(h, key, "cycles", count: 1200, efConstruction: 32)
        try settle(h, key, "cycles")
        let fresh = h.collectionsEngine!.loaded[0].indexBytes
        let ids = (0..<1200).map { "\"r\($0)\"" }.joined(separator: ",")
        for _ in 0..<10 {
            #expect(try h.send("POST", "/v1/collections/cycles/records/delete", headers: auth(key), body: #"{"ids":[\#(ids)]}"#).code == 200)
            var start = 0
            while start < 1200 {
                let records = (start..<start + 400).map { i in #"{"id":"r\#(i)","vector":\#(CollectionsTests.text(CollectionsTests.vector(i)))}"# }
                #expect(try h.send("POST", "/v1/collections/cycles/records", headers: auth(key), body: #"{"records":[\#(records.joined(separator: ","))]}"#).code == 200)
                start += 400
            }
            try settle(h, key, "cycles")
        }
        let live = h.collectionsEngine!.loaded[0]
        #expect(Double(live.indexBytes) <= 1.1 * Double(fresh), "index \(live.indexBytes) bytes after ten cycles; \(fresh) fresh")
        #expect(live.count == 1200)
        for i in stride(from: 0, to: 1200, by: 101) { #expect(try nearest(h, key, "cycles", CollectionsTests.vector(i)) == ["r\(i)"]) }

        // Deleting 60 % without reloading leaves tombstones; a rebuild clears them.
        let doomed = (0..<1200).filter { $0 % 5 < 3 }.map { "\"r\($0)\"" }.joined(separator: ",")
        #expect(try h.send("POST", "/v1/collections/cycles/records/delete", headers: auth(key), body: #"{"ids":[\#(doomed)]}"#).code == 200)
        try settle(h, key, "cycles")
        let rebuilt = h.collectionsEngine!.loaded[0]
        #expect(rebuilt.graph?.tombstoneFraction == 0, "tombstones after the rebuild: \(rebuilt.graph?.tombstoneFraction ?? -1)")
        #expect(rebuilt.count == 480)
        for i in stride(from: 3, to: 1200, by: 5) { #expect(try nearest(h, key, "cycles", CollectionsTests.vector(i)) == ["r\(i)"]) }
    }

    @Test("a replica behind a trimmed change log reloads from the rows")
    func trimmedLog() throws {
        let directory = NSTemporaryDirectory() + "aiwriter-trim-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let a = try GatewayHarness { $0.storage.dataDirectory = directory; $0.collections.retainedChanges = 1_000 }
        let key = a.key(.writer, rate: 1_000_000, burst: 1_000_000)
        try seed(a, key, "log", count: 100)
        // A second "replica" on the same database loads the collection now, then falls behind.
        let b = try GatewayHarness { $0.storage.dataDirectory = directory }
        #expect(try nearest(b, key, "log", CollectionsTests.vector(5)) == ["r5"])
        let behind = b.collectionsEngine!.loaded[0]
        var start = 100
        while start < 3_100 {
            let records = (start..<start + 500).map { i in #"{"id":"r\#(i)","vector":\#(CollectionsTests.text(CollectionsTests.vector(i)))}"# }
            #expect(try a.send("POST", "/v1/collections/log/records", headers: auth(key), body: #"{"records":[\#(records.joined(separator: ","))]}"#).code == 200)
            start += 500
        }
        let trimmed = Flag()
        a.loop.runOnCallingThread(timeoutMilliseconds: 10_000, until: { trimmed.value }) {
            a.collectionsEngine!.trimChangeLogs(on: a.loop) { trimmed.value = true }
        }
        // B catches up: the log it needs is gone, so it reloads and serves everything.
        let reloaded = Flag()
        let engine = b.collectionsEngine!, loop = b.loop
        loop.runOnCallingThread(timeoutMilliseconds: 20_000, until: { reloaded.value }) {
            loop.spawn {
                try? await engine.catchUp(behind, to: 3_100, on: loop)
                reloaded.value = true
            }
        }
        let replaced = behind.dropped.load(ordering: .acquiring)
        #expect(replaced, "the stale index was replaced")
        let count = try b.send("GET", "/v1/collections/log/count", headers: auth(key))
        #expect((CollectionsTests.json(count) as? [String: Any])?["count"] as? Int == 3_100)
        #expect(try nearest(b, key, "log", CollectionsTests.vector(3_000)) == ["r3000"])
    }

    @Test("restart: from the rows, from a snapshot, and from a corrupt or foreign snapshot (rebuilt, nothing lost)")
    func restarts() throws {
        let directory = NSTemporaryDirectory() + "aiwriter-restart-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var key = ""
        do {
            let h = try GatewayHarness { $0.storage.dataDirectory = directory }
            key = h.key(.writer, rate: 1_000_000, burst: 1_000_000)
            try seed(h, key, "kept", count: 700)
            try seed(h, key, "second", count: 50)
        }
        func check(_ label: String) throws {
            let h = try GatewayHarness { $0.storage.dataDirectory = directory }
            for i in stride(from: 0, to: 700, by: 37) {
                #expect(try nearest(h, key, "kept", CollectionsTests.vector(i)) == ["r\(i)"], "\(label): r\(i)")
            }
            let count = try h.send("GET", "/v1/collections/kept/count", headers: auth(key))
            #expect((CollectionsTests.json(count) as? [String: Any])?["count"] as? Int == 700, "\(label)")
            #expect(try nearest(h, key, "second", CollectionsTests.vector(7)) == ["r7"], "\(label): second")
            // Let the background insertion finish, then snapshot as a drain would.
            try settle(h, key, "kept")
            h.collectionsEngine?.writeSnapshots(on: nil)
        }
        try check("from rows")
        try check("from snapshot")
        let snapshots = directory + "/snapshots"
        let files = try FileManager.default.contentsOfDirectory(atPath: snapshots).filter { $0.hasSuffix(".hnsw") }
        #expect(files.count == 2, "\(files)")
        // Corrupt one snapshot, give the other's bytes to the first: both are rebuilt.
        let first = snapshots + "/" + files[0], second = snapshots + "/" + files[1]
        var bytes = try Data(contentsOf: URL(fileURLWithPath: first))
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: first))
        try check("corrupt snapshot")
        try FileManager.default.removeItem(atPath: first)
        try FileManager.default.copyItem(atPath: second, toPath: first)
        try check("foreign snapshot")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: second))
        try check("truncated snapshot")
    }
}

extension HTTPResponseRecorder {
    /// The status as a number (0 when no response was recorded).
    var code: Int { status.map { Int($0.rawValue) } ?? 0 }
}

/// Set by a task on the harness loop, read by the test thread driving that loop.
final class Flag: @unchecked Sendable {
    // @unchecked: the loop runs on the test's own thread (runOnCallingThread), so writer and
    // reader are one thread.
    var value = false
}
