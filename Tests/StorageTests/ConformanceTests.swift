import Foundation
import Net
import Storage
import Testing
import TestSupport

/// One suite, both backends: the Store behaves the same on SQLite and PostgreSQL.
@Suite("Store conformance", .serialized)
struct ConformanceTests {
    @Test("tenants and API keys", arguments: BackendKind.allCases)
    func tenantsAndKeys(kind: BackendKind) async throws {
        let store = try Fixture.store(kind)
        let tenant = try await Fixture.tenant(store)
        let again = await store.failure { s, l, d in s.createTenant(id: tenant, name: "again", on: l, d) }
        #expect(again?.httpStatus == 409, "\(String(describing: again))")
        let hash = (0..<32).map { _ in UInt8.random(in: 0...255) }
        let key = APIKeyRecord(id: "k" + tenant, tenantID: tenant, name: "ci", hash: hash, role: .writer,
                               ratePerSecond: 100, burst: 200, tokensPerMinute: nil, createdAt: 0, revokedAt: nil)
        let created = try await store.call { s, l, d in s.createKey(key, on: l, d) }
        #expect(created.createdAt > 0)
        let found = try await store.call { s, l, d in s.key(hash: hash, on: l, d) }
        #expect(found?.id == key.id && found?.role == .writer && found?.ratePerSecond == 100 && found?.burst == 200)
        #expect(found?.tokensPerMinute == nil && found?.revokedAt == nil)
        let listed = try await store.call { s, l, d in s.keys(tenantID: tenant, on: l, d) }
        #expect(listed.map(\.id) == [key.id])
        let before = Store.now
        let revoked = try await store.call { s, l, d in s.revokeKey(tenantID: tenant, id: key.id, on: l, d) }
        #expect(revoked.revokedAt != nil)
        let hashes = try await store.call { s, l, d in s.revokedKeyHashes(since: before, on: l, d) }
        #expect(hashes.contains(hash))
        // Another tenant cannot revoke it: not found, not forbidden.
        let other = try await Fixture.tenant(store)
        let foreign = await store.failure { s, l, d in s.revokeKey(tenantID: other, id: key.id, on: l, d) }
        #expect(foreign?.httpStatus == 404)
        let badHash = await store.failure { s, l, d in
            s.createKey(APIKeyRecord(id: "short", tenantID: tenant, name: "x", hash: [1, 2], role: .reader,
                                     createdAt: 0), on: l, d)
        }
        #expect(badHash?.httpStatus == 422)
    }

    @Test("documents: versions, conflicts, history, paging, tenants", arguments: BackendKind.allCases)
    func documents(kind: BackendKind) async throws {
        let store = try Fixture.store(kind)
        let tenant = try await Fixture.tenant(store)
        let doc = try await store.call { s, l, d in s.createDocument(tenantID: tenant, title: "Draft", body: "Once", metadata: #"{"tags": ["a"]}"#, on: l, d) }
        #expect(doc.version == 1)
        #expect(jsonObject(doc.metadata) == ["tags": ["a"]])
        let updated = try await store.call { s, l, d in
            s.updateDocument(tenantID: tenant, id: doc.id, expectedVersion: 1, title: "Draft 2", body: "Twice", metadata: nil, on: l, d)
        }
        #expect(updated.version == 2 && updated.body == "Twice")
        let stale = await store.failure { s, l, d in
            s.updateDocument(tenantID: tenant, id: doc.id, expectedVersion: 1, title: "x", body: "y", metadata: nil, on: l, d)
        }
        #expect(stale?.httpStatus == 409)
        #expect(stale?.message.contains("version 2") == true)
        let history = try await store.call { s, l, d in s.documentHistory(tenantID: tenant, id: doc.id, on: l, d) }
        #expect(history.map(\.version) == [1, 2])
        #expect(history.map(\.body) == ["Once", "Twice"])

        // Another tenant sees nothing: 404 on read, update and delete.
        let other = try await Fixture.tenant(store)
        #expect(await store.failure { s, l, d in s.document(tenantID: other, id: doc.id, on: l, d) }?.httpStatus == 404)
        #expect(await store.failure { s, l, d in
            s.updateDocument(tenantID: other, id: doc.id, expectedVersion: 2, title: "x", body: "y", metadata: nil, on: l, d)
        }?.httpStatus == 404)
        #expect(await store.failure { s, l, d in s.deleteDocument(tenantID: other, id: doc.id, on: l, d) }?.httpStatus == 404)

        // Keyset pages.
        for i in 0..<4 {
            _ = try await store.call { s, l, d in s.createDocument(tenantID: tenant, title: "d\(i)", body: "", metadata: nil, on: l, d) }
        }
        var seen: [Int64] = []
        var after: Int64? = nil
        repeat {
            let page = try await store.call { [after] s, l, d in s.documents(tenantID: tenant, after: after, limit: 2, on: l, d) }
            seen += page.items.map(\.id)
            after = page.next
        } while after != nil
        #expect(seen.count == 5 && seen == seen.sorted() && Set(seen).count == 5)

        try await store.call { s, l, d in s.deleteDocument(tenantID: tenant, id: doc.id, on: l, d) }
        #expect(await store.failure { s, l, d in s.document(tenantID: tenant, id: doc.id, on: l, d) }?.httpStatus == 404)
        #expect(await store.failure { s, l, d in s.documentHistory(tenantID: tenant, id: doc.id, on: l, d) }?.httpStatus == 404)
    }

    @Test("documents: content types, filters, version pages, restore", arguments: BackendKind.allCases)
    func documentVersions(kind: BackendKind) async throws {
        let store = try Fixture.store(kind)
        let tenant = try await Fixture.tenant(store)
        let html = try await store.call { s, l, d in
            s.createDocument(tenantID: tenant, title: "H", body: "<p>1</p>", contentType: "text/html", metadata: #"{"kind":"page","n":1}"#, on: l, d)
        }
        #expect(html.contentType == "text/html")
        #expect(await store.failure { s, l, d in
            s.createDocument(tenantID: tenant, title: "x", body: "y", contentType: "application/pdf", metadata: nil, on: l, d)
        }?.httpStatus == 422)
        let plain = try await store.call { s, l, d in s.createDocument(tenantID: tenant, title: "P", body: "1", metadata: #"{"kind":"note","n":"1"}"#, on: l, d) }
        #expect(plain.contentType == "text/markdown")
        // Metadata filters match string values only, any key spelling included.
        let pages = try await store.call { s, l, d in s.documents(tenantID: tenant, after: nil, limit: 10, metadataKey: "kind", metadataValue: "page", on: l, d) }
        #expect(pages.items.map(\.id) == [html.id])
        let numbers = try await store.call { s, l, d in s.documents(tenantID: tenant, after: nil, limit: 10, metadataKey: "n", metadataValue: "1", on: l, d) }
        #expect(numbers.items.map(\.id) == [plain.id])
        let odd = try await store.call { s, l, d in s.documents(tenantID: tenant, after: nil, limit: 10, metadataKey: "k\"'$.x", metadataValue: "v", on: l, d) }
        #expect(odd.items.isEmpty)
        let later = try await store.call { s, l, d in s.documents(tenantID: tenant, after: nil, limit: 10, updatedSince: Store.now + 60_000, on: l, d) }
        #expect(later.items.isEmpty)

        var current = html
        for i in 2...4 {
            current = try await store.call { [current] s, l, d in
                s.updateDocument(tenantID: tenant, id: current.id, expectedVersion: current.version, title: "H\(i)", body: "<p>\(i)</p>",
                                 contentType: i == 4 ? "text/plain" : nil, metadata: nil, on: l, d)
            }
        }
        #expect(current.version == 4 && current.contentType == "text/plain")
        let first = try await store.call { s, l, d in s.documentVersions(tenantID: tenant, id: html.id, after: nil, limit: 3, on: l, d) }
        #expect(first.items.map(\.version) == [1, 2, 3] && first.next == 3)
        #expect(first.items.map(\.contentType) == ["text/html", "text/html", "text/html"])
        let second = try await store.call { s, l, d in s.documentVersions(tenantID: tenant, id: html.id, after: 3, limit: 3, on: l, d) }
        #expect(second.items.map(\.version) == [4] && second.next == nil)
        let v1 = try await store.call { s, l, d in s.documentVersion(tenantID: tenant, id: html.id, version: 1, on: l, d) }
        #expect(v1.body == "<p>1</p>" && v1.contentType == "text/html")

        let restored = try await store.call { s, l, d in s.restoreDocument(tenantID: tenant, id: html.id, version: 1, expectedVersion: 4, on: l, d) }
        #expect(restored.version == 5 && restored.body == "<p>1</p>" && restored.contentType == "text/html" && restored.title == "H")
        #expect(await store.failure { s, l, d in s.restoreDocument(tenantID: tenant, id: html.id, version: 2, expectedVersion: 4, on: l, d) }?.httpStatus == 409)
        #expect(await store.failure { s, l, d in s.restoreDocument(tenantID: tenant, id: html.id, version: 99, expectedVersion: nil, on: l, d) }?.httpStatus == 404)
        let other = try await Fixture.tenant(store)
        #expect(await store.failure { s, l, d in s.restoreDocument(tenantID: other, id: html.id, version: 1, expectedVersion: nil, on: l, d) }?.httpStatus == 404)
        #expect(await store.failure { s, l, d in s.documentVersions(tenantID: other, id: html.id, after: nil, limit: 3, on: l, d) }?.httpStatus == 404)
        #expect(await store.failure { s, l, d in s.documentVersion(tenantID: other, id: html.id, version: 1, on: l, d) }?.httpStatus == 404)
        let history = try await store.call { s, l, d in s.documentHistory(tenantID: tenant, id: html.id, on: l, d) }
        #expect(history.map(\.version) == [1, 2, 3, 4, 5])
    }

    @Test("collections and records with an ordered change log", arguments: BackendKind.allCases)
    func records(kind: BackendKind) async throws {
        let store = try Fixture.store(kind)
        let tenant = try await Fixture.tenant(store)
        let collection = try await store.call { s, l, d in s.createCollection(tenantID: tenant, name: "notes", dimension: 3, metric: .cosine, on: l, d) }
        #expect(collection.lastSequence == 0 && collection.m == 16)
        #expect(await store.failure { s, l, d in s.createCollection(tenantID: tenant, name: "notes", dimension: 3, metric: .l2, on: l, d) }?.httpStatus == 409)

        let first = try await store.call { s, l, d in
            s.upsertRecords([RecordInput(id: "a", vector: [1, 0, 0], metadata: #"{"n":1}"#, document: "alpha"),
                             RecordInput(id: "b", vector: [0, 1, 0]),
                             RecordInput(id: "a", vector: [0.5, 0.5, 0], metadata: #"{"n":2}"#)], into: collection, on: l, d)
        }
        #expect(first == WriteReceipt(count: 2, lastSequence: 2))
        let got = try await store.call { s, l, d in s.records(ids: ["b", "a", "missing"], in: collection, on: l, d) }
        #expect(got.map(\.id) == ["b", "a"])
        #expect(got[1].vector == [0.5, 0.5, 0] && jsonObject(got[1].metadata) == ["n": 2] && got[1].document == nil)
        #expect(jsonObject(got[0].metadata) == [:])

        let second = try await store.call { s, l, d in s.upsertRecords([RecordInput(id: "c", vector: [0, 0, 1], document: "gamma")], into: collection, on: l, d) }
        #expect(second.lastSequence == 3)
        let deleted = try await store.call { s, l, d in s.deleteRecords(ids: ["b", "nope", "b"], from: collection, on: l, d) }
        #expect(deleted == WriteReceipt(count: 1, lastSequence: 5))
        let changes = try await store.call { s, l, d in s.changes(in: collection, after: 0, limit: 100, on: l, d) }
        #expect(changes.map(\.sequence) == [1, 2, 3, 4, 5])
        #expect(changes.map(\.operation) == [.upsert, .upsert, .upsert, .delete, .delete])
        #expect(changes.map(\.id) == ["b", "a", "c", "b", "nope"])
        // An upsert's vector comes with its change only while it is the record's latest version.
        #expect(changes[0].vector == nil && changes[1].vector == [0.5, 0.5, 0] && changes[2].vector == [0, 0, 1])
        let tail = try await store.call { s, l, d in s.changes(in: collection, after: 3, limit: 1, on: l, d) }
        #expect(tail.map(\.sequence) == [4])

        let reread = try await store.call { s, l, d in s.collection(tenantID: tenant, name: "notes", on: l, d) }
        #expect(reread.lastSequence == 5)
        let other = try await Fixture.tenant(store)
        #expect(await store.failure { s, l, d in s.collection(tenantID: other, name: "notes", on: l, d) }?.httpStatus == 404)
        try await store.call { s, l, d in s.deleteCollection(tenantID: tenant, name: "notes", on: l, d) }
        let gone = await store.failure { s, l, d in s.upsertRecords([RecordInput(id: "z", vector: [1, 1, 1])], into: collection, on: l, d) }
        #expect(gone?.httpStatus == 404, "\(String(describing: gone))")
        #expect(try await store.call { s, l, d in s.collections(tenantID: tenant, on: l, d) }.isEmpty)
    }

    @Test("databases, UUIDs, metadata, add-keeps-existing, record pages", arguments: BackendKind.allCases)
    func collectionDatabases(kind: BackendKind) async throws {
        let store = try Fixture.store(kind)
        let tenant = try await Fixture.tenant(store)
        let loop = Fixture.loop
        // default_database exists without being made and cannot be made or deleted.
        #expect(try await store.database(tenantID: tenant, name: "default_database", on: loop).name == "default_database")
        await #expect(throws: StoreError.self) { try await store.createDatabase(tenantID: tenant, name: "default_database", on: loop) }
        await #expect(throws: StoreError.self) { try await store.deleteDatabase(tenantID: tenant, name: "default_database", on: loop) }
        let books = try await store.createDatabase(tenantID: tenant, name: "books", on: loop)
        #expect(books.uuid.count == 36)
        #expect(try await store.databases(tenantID: tenant, on: loop).map(\.name) == ["default_database", "books"])

        // The same name in two databases; a collection in a database that does not exist is refused.
        let a = try await store.createCollection(tenantID: tenant, CollectionSpec(name: "c", dimension: 2, metric: .l2,
                                                                               metadata: #"{"k":"v"}"#), on: loop)
        let b = try await store.createCollection(tenantID: tenant, CollectionSpec(database: "books", name: "c", dimension: 2, metric: .ip, efSearch: 50), on: loop)
        #expect(a.uuid != b.uuid && a.database == "default_database" && b.database == "books" && b.efSearch == 50)
        #expect(jsonObject(a.metadata ?? "") == ["k": "v"] && b.metadata == nil)
        do {
            _ = try await store.createCollection(tenantID: tenant, CollectionSpec(database: "nowhere", name: "c", dimension: 2, metric: .l2), on: loop)
            Issue.record("a collection in a missing database was created")
        } catch { #expect(error.httpStatus == 404) }
        #expect(try await store.collection(tenantID: tenant, uuid: b.uuid, on: loop).id == b.id)
        let other = try await Fixture.tenant(store)
        do {
            _ = try await store.collection(tenantID: other, uuid: b.uuid, on: loop)
            Issue.record("another tenant found the collection by UUID")
        } catch { #expect(error.httpStatus == 404) }
        #expect(try await store.countCollections(tenantID: tenant, database: "books", on: loop) == 1)
        let renamed = try await store.updateCollection(tenantID: tenant, uuid: b.uuid, name: "d", metadata: #"{"x":1}"#, efSearch: 70, on: loop)
        #expect(renamed.name == "d" && renamed.efSearch == 70 && jsonObject(renamed.metadata ?? "") == ["x": 1] && renamed.dimension == 2)
        do {
            _ = try await store.updateCollection(tenantID: other, uuid: b.uuid, name: "e", metadata: nil, efSearch: nil, on: loop)
            Issue.record("another tenant renamed the collection")
        } catch { #expect(error.httpStatus == 404) }

        // add keeps what is stored and logs only what it wrote.
        _ = try await store.upsertRecords([RecordInput(id: "x", vector: [1, 0], document: "first")], into: a, on: loop)
        let added = try await store.upsertRecords([RecordInput(id: "x", vector: [0, 1], document: "second"),
                                                   RecordInput(id: "y", vector: [1, 1])], into: a, mode: .insertOnly, on: loop)
        #expect(added.count == 1 && added.lastSequence == 3)
        #expect(try await store.records(ids: ["x"], in: a, on: loop).first?.document == "first")
        // The log stays gap-free: the kept id's change is there, without a record.
        let changes = try await store.changes(in: a, after: 0, limit: 10, on: loop)
        #expect(changes.map(\.id) == ["x", "x", "y"] && changes.map(\.sequence) == [1, 2, 3])
        #expect(changes[0].record?.document == "first" && changes[1].record == nil && changes[2].record?.vector == [1, 1])

        // Pages in change order, with and without vectors.
        let page = try await store.records(in: a, after: 0, limit: 1, on: loop)
        #expect(page.map(\.id) == ["x"])
        let rest = try await store.recordSummaries(in: a, after: page[0].sequence, limit: 10, on: loop)
        #expect(rest.map(\.id) == ["y"] && rest[0].sequence == 3)

        // A collection made without a dimension: the first write fixes it, once.
        let open = try await store.createCollection(tenantID: tenant, CollectionSpec(name: "open", dimension: nil, metric: .cosine), on: loop)
        #expect(open.dimension == nil)
        #expect(try await store.fixDimension(3, of: open, on: loop) == 3)
        #expect(try await store.fixDimension(5, of: open, on: loop) == 3)
        #expect(try await store.collection(tenantID: tenant, uuid: open.uuid, on: loop).dimension == 3)

        // Deleting a database deletes its collections and their rows.
        try await store.deleteDatabase(tenantID: tenant, name: "books", on: loop)
        do {
            _ = try await store.collection(tenantID: tenant, uuid: b.uuid, on: loop)
            Issue.record("a collection outlived its database")
        } catch { #expect(error.httpStatus == 404) }
        #expect(try await store.allCollections(on: loop).contains { $0.uuid == a.uuid && $0.lastSequence == 3 })
    }

    @Test("bad input is refused whole: nothing of the batch is stored", arguments: BackendKind.allCases)
    func badInput(kind: BackendKind) async throws {
        let store = try Fixture.store(kind)
        let tenant = try await Fixture.tenant(store)
        let collection = try await store.call { s, l, d in s.createCollection(tenantID: tenant, name: "v", dimension: 4, metric: .l2, on: l, d) }
        let good = RecordInput(id: "ok", vector: [1, 2, 3, 4])
        let hugeID = String(repeating: "x", count: 1 << 20)
        let cases: [(String, RecordInput)] = [
            ("wrong dimension", RecordInput(id: "w", vector: [1, 2, 3])),
            ("NaN", RecordInput(id: "n", vector: [1, .nan, 3, 4])),
            ("infinity", RecordInput(id: "i", vector: [1, 2, .infinity, 4])),
            ("metadata array", RecordInput(id: "m", vector: [1, 2, 3, 4], metadata: "[1,2]")),
            ("metadata broken", RecordInput(id: "m", vector: [1, 2, 3, 4], metadata: #"{"a":}"#)),
            ("metadata NUL escape", RecordInput(id: "m", vector: [1, 2, 3, 4], metadata: #"{"a":"\u0000"}"#)),
            ("metadata lone surrogate", RecordInput(id: "m", vector: [1, 2, 3, 4], metadata: #"{"a":"\ud800"}"#)),
            ("metadata trailing comma", RecordInput(id: "m", vector: [1, 2, 3, 4], metadata: #"{"a":[],}"#)),
            ("metadata number out of range", RecordInput(id: "m", vector: [1, 2, 3, 4], metadata: #"{"a":2.5e8888888884}"#)),
            ("1 MB id", RecordInput(id: hugeID, vector: [1, 2, 3, 4])),
            ("empty id", RecordInput(id: "", vector: [1, 2, 3, 4])),
            ("NUL in id", RecordInput(id: "a\u{0}b", vector: [1, 2, 3, 4])),
            ("NUL in document", RecordInput(id: "d", vector: [1, 2, 3, 4], document: "a\u{0}b")),
        ]
        for (name, bad) in cases {
            let error = await store.failure { s, l, d in s.upsertRecords([good, bad], into: collection, on: l, d) }
            #expect(error?.httpStatus == 422, "\(name): \(String(describing: error))")
            #expect((error?.message.count ?? 0) < 400, "\(name): the error must not echo the input")
        }
        let stored = try await store.call { s, l, d in s.records(ids: ["ok"], in: collection, on: l, d) }
        #expect(stored.isEmpty)
        let changes = try await store.call { s, l, d in s.changes(in: collection, after: 0, limit: 10, on: l, d) }
        #expect(changes.isEmpty)
        #expect(await store.failure { s, l, d in s.createCollection(tenantID: tenant, name: "z", dimension: 0, metric: .l2, on: l, d) }?.httpStatus == 422)
        #expect(await store.failure { s, l, d in s.createTenant(id: "bad id!", name: "x", on: l, d) }?.httpStatus == 422)
        #expect(await store.failure { s, l, d in s.createDocument(tenantID: tenant, title: "t", body: "b", metadata: "42", on: l, d) }?.httpStatus == 422)
        #expect(await store.failure { s, l, d in s.documents(tenantID: tenant, after: nil, limit: 0, on: l, d) }?.httpStatus == 422)
    }

    @Test("SQL metacharacters in every string field are stored as data", arguments: BackendKind.allCases)
    func metacharacters(kind: BackendKind) async throws {
        let store = try Fixture.store(kind)
        let tenant = try await Fixture.tenant(store)
        let hostile = [#"'); DROP TABLE records; --"#, #"\" OR 1=1 --"#, "$1 $$ ? ?1 :name @x %s %", "\\x00\\", "é𝄞🙂 ﷽", "; COMMIT; BEGIN"]
        let collectionName = hostile[0] + hostile[2]
        let collection = try await store.call { s, l, d in s.createCollection(tenantID: tenant, name: collectionName, dimension: 2, metric: .ip, on: l, d) }
        #expect(collection.name == collectionName)
        let inputs = hostile.enumerated().map { i, text in
            RecordInput(id: text, vector: [Float(i), 1], metadata: "{\"k\": \"\(text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))\"}", document: text)
        }
        _ = try await store.call { s, l, d in s.upsertRecords(inputs, into: collection, on: l, d) }
        let back = try await store.call { s, l, d in s.records(ids: hostile, in: collection, on: l, d) }
        #expect(back.map(\.id) == hostile)
        #expect(back.map(\.document) == hostile)
        #expect(back.map { jsonObject($0.metadata)?["k"] as? String } == hostile)
        let doc = try await store.call { s, l, d in s.createDocument(tenantID: tenant, title: hostile[0], body: hostile[1], metadata: nil, on: l, d) }
        let read = try await store.call { s, l, d in s.document(tenantID: tenant, id: doc.id, on: l, d) }
        #expect(read.title == hostile[0] && read.body == hostile[1])
        let found = try await store.call { s, l, d in s.collection(tenantID: tenant, name: collectionName, on: l, d) }
        #expect(found.id == collection.id)
    }

    @Test("jobs: claim in order, retry, give up, complete", arguments: BackendKind.allCases)
    func jobs(kind: BackendKind) async throws {
        let store = try Fixture.store(kind)
        let tenant = try await Fixture.tenant(store)
        let jobKind = "gen-" + tenant
        let one = try await store.call { s, l, d in s.enqueueJob(tenantID: tenant, kind: jobKind, payload: #"{"p":1}"#, maxAttempts: 2, on: l, d) }.job
        let two = try await store.call { s, l, d in s.enqueueJob(tenantID: tenant, kind: jobKind, payload: #"{"p":2}"#, on: l, d) }.job
        #expect(one.state == .queued && one.attempts == 0)
        let claimed1 = try await store.call { s, l, d in s.claimJob(kind: jobKind, claim: "c1", leaseMilliseconds: 60_000, on: l, d) }
        let claimed2 = try await store.call { s, l, d in s.claimJob(kind: jobKind, claim: "c2", leaseMilliseconds: 60_000, on: l, d) }
        #expect(claimed1?.id == one.id && claimed2?.id == two.id && claimed1?.attempts == 1 && claimed1?.claim == "c1")
        #expect(try await store.call { s, l, d in s.claimJob(kind: jobKind, claim: "c3", leaseMilliseconds: 60_000, on: l, d) } == nil)
        // Only the claim's holder writes.
        #expect(await store.failure { s, l, d in s.failJob(id: one.id, claim: "c2", error: "x", retryable: true, retryAfterMilliseconds: 0, on: l, d) }?.httpStatus == 409)
        let retried = try await store.call { s, l, d in
            s.failJob(id: one.id, claim: "c1", error: "upstream 502", retryable: true, retryAfterMilliseconds: 0, retryingEventData: #"{"error":"upstream 502"}"#, on: l, d)
        }
        #expect(retried.state == .queued && retried.error == "upstream 502" && retried.claim == nil)
        let again = try await store.call { s, l, d in s.claimJob(kind: jobKind, claim: "c4", leaseMilliseconds: 60_000, on: l, d) }
        #expect(again?.id == one.id && again?.attempts == 2)
        let exhausted = try await store.call { s, l, d in s.failJob(id: one.id, claim: "c4", error: "still 502", retryable: true, retryAfterMilliseconds: 0, on: l, d) }
        #expect(exhausted.state == .failed)
        let done = try await store.call { s, l, d in s.completeJob(id: two.id, claim: "c2", result: #"{"text":"ok"}"#, document: nil, tenantID: tenant, on: l, d) }
        #expect(done.job.state == .succeeded && jsonObject(done.job.result ?? "") == ["text": "ok"] && done.document == nil)
        #expect(await store.failure { s, l, d in s.completeJob(id: two.id, claim: "c2", result: "{}", document: nil, tenantID: tenant, on: l, d) }?.httpStatus == 409)
        let events = try await store.call { s, l, d in s.jobEvents(tenantID: tenant, id: one.id, after: 0, limit: 100, on: l, d) }
        #expect(events.events.map(\.type) == ["queued", "started", "retrying", "started"])
        #expect(jsonObject(events.events[1].data) == ["attempt": 1] && events.job.state == .failed)
        #expect(try await store.call { s, l, d in s.jobEvents(tenantID: tenant, id: one.id, after: events.events[1].id, limit: 1, on: l, d) }.events.map(\.type) == ["retrying"])
        #expect(await store.failure { s, l, d in s.jobEvents(tenantID: "other-tenant", id: one.id, after: 0, limit: 10, on: l, d) }?.httpStatus == 404)
    }

    @Test("jobs: a lost claim writes nothing; the document and the completion are one unit", arguments: BackendKind.allCases)
    func jobClaims(kind: BackendKind) async throws {
        let store = try Fixture.store(kind)
        let tenant = try await Fixture.tenant(store)
        let other = try await Fixture.tenant(store)
        let jobKind = "gen-" + tenant
        let three = try await store.call { s, l, d in s.enqueueJob(tenantID: tenant, kind: jobKind, payload: "{}", on: l, d) }.job
        _ = try await store.call { s, l, d in s.claimJob(kind: jobKind, claim: "old", leaseMilliseconds: 60_000, on: l, d) }
        // The lease ran out (the worker stalled): another claim takes the job.
        let stolen = try await store.call { s, l, d in s.claimJob(kind: jobKind, claim: "new", leaseMilliseconds: -1000, on: l, d) }
        #expect(stolen?.id == three.id && stolen?.attempts == 2)
        #expect(try await store.call { s, l, d in s.heartbeatJob(id: three.id, claim: "old", on: l, d) } == nil)
        #expect(try await store.call { s, l, d in s.heartbeatJob(id: three.id, claim: "new", on: l, d) } == false)
        #expect(try await store.call { s, l, d in s.appendJobEvents(id: three.id, claim: "old", [("delta", "{}")], on: l, d) } == false)
        let write = JobDocumentWrite(documentID: nil, title: "Draft", body: "from the old worker")
        #expect(await store.failure { s, l, d in s.completeJob(id: three.id, claim: "old", result: "{}", document: write, tenantID: tenant, on: l, d) }?.httpStatus == 409)
        let before = try await store.call { s, l, d in s.documents(tenantID: tenant, after: nil, limit: 100, on: l, d) }.items.count
        #expect(before == 0)
        let finished = try await store.call { s, l, d in
            s.completeJob(id: three.id, claim: "new", result: #"{"n":1}"#, document: JobDocumentWrite(documentID: nil, title: "Draft", body: "text"),
                          tenantID: tenant, on: l, d)
        }
        #expect(finished.document?.body == "text" && finished.job.documentID == finished.document?.id && finished.job.documentVersion == 1)
        // A new version of an existing document; another tenant's document is not written.
        let four = try await store.call { s, l, d in s.enqueueJob(tenantID: tenant, kind: jobKind, payload: "{}", on: l, d) }.job
        _ = try await store.call { s, l, d in s.claimJob(kind: jobKind, claim: "c5", leaseMilliseconds: 60_000, on: l, d) }
        let foreign = try await store.call { s, l, d in s.createDocument(tenantID: other, title: "theirs", body: "b", metadata: nil, on: l, d) }
        #expect(await store.failure { s, l, d in
            s.completeJob(id: four.id, claim: "c5", result: "{}", document: JobDocumentWrite(documentID: foreign.id, title: "t", body: "mine"), tenantID: tenant, on: l, d)
        }?.httpStatus == 404)
        #expect(try await store.call { s, l, d in s.document(tenantID: other, id: foreign.id, on: l, d) }.version == 1)
        let second = try await store.call { s, l, d in
            s.completeJob(id: four.id, claim: "c5", result: "{}", document: JobDocumentWrite(documentID: finished.document!.id, title: "Draft", body: "v2"),
                          tenantID: tenant, on: l, d)
        }
        #expect(second.document?.version == 2 && second.job.documentVersion == 2)
        // The last attempt's lease runs out: the sweep fails it instead of leaving it running.
        let five = try await store.call { s, l, d in s.enqueueJob(tenantID: tenant, kind: jobKind, payload: "{}", maxAttempts: 1, on: l, d) }.job
        _ = try await store.call { s, l, d in s.claimJob(kind: jobKind, claim: "c6", leaseMilliseconds: 60_000, on: l, d) }
        #expect(try await store.call { s, l, d in s.claimJob(kind: jobKind, claim: "c7", leaseMilliseconds: -1000, on: l, d) } == nil)
        #expect(try await store.call { s, l, d in s.sweepExpiredJobs(kind: jobKind, leaseMilliseconds: -1000, on: l, d) } == 1)
        #expect(try await store.call { s, l, d in s.job(tenantID: tenant, id: five.id, on: l, d) }.state == .failed)
    }

    @Test("jobs: idempotency keys, cancels, releases, pages", arguments: BackendKind.allCases)
    func jobKeys(kind: BackendKind) async throws {
        let store = try Fixture.store(kind)
        let tenant = try await Fixture.tenant(store)
        let jobKind = "gen-" + tenant
        let first = try await store.call { s, l, d in s.enqueueJob(tenantID: tenant, kind: jobKind, payload: "{}", idempotencyKey: "k-1", requestHash: "h1", on: l, d) }
        let repeated = try await store.call { s, l, d in s.enqueueJob(tenantID: tenant, kind: jobKind, payload: "{}", idempotencyKey: "k-1", requestHash: "h2", on: l, d) }
        #expect(first.created && !repeated.created && repeated.job.id == first.job.id && repeated.job.requestHash == "h1")
        let events = try await store.call { s, l, d in s.jobEvents(tenantID: tenant, id: first.job.id, after: 0, limit: 10, on: l, d) }.events
        #expect(events.map(\.type) == ["queued"])
        let cancelled = try await store.call { s, l, d in s.cancelJob(tenantID: tenant, id: first.job.id, on: l, d) }
        #expect(cancelled.state == .cancelled)
        #expect(await store.failure { s, l, d in s.cancelJob(tenantID: tenant, id: first.job.id, on: l, d) }?.httpStatus == 409)
        #expect(try await store.call { s, l, d in s.claimJob(kind: jobKind, claim: "c1", leaseMilliseconds: 60_000, on: l, d) } == nil)
        let running = try await store.call { s, l, d in s.enqueueJob(tenantID: tenant, kind: jobKind, payload: "{}", on: l, d) }.job
        _ = try await store.call { s, l, d in s.claimJob(kind: jobKind, claim: "c2", leaseMilliseconds: 60_000, on: l, d) }
        #expect(try await store.call { s, l, d in s.cancelJob(tenantID: tenant, id: running.id, on: l, d) }.state == .running)
        #expect(try await store.call { s, l, d in s.heartbeatJob(id: running.id, claim: "c2", on: l, d) } == true)
        #expect(try await store.call { s, l, d in s.markJobCancelled(id: running.id, claim: "c2", on: l, d) }?.state == .cancelled)
        let released = try await store.call { s, l, d in s.enqueueJob(tenantID: tenant, kind: jobKind, payload: "{}", on: l, d) }.job
        _ = try await store.call { s, l, d in s.claimJob(kind: jobKind, claim: "c3", leaseMilliseconds: 60_000, on: l, d) }
        let back = try await store.call { s, l, d in s.releaseJob(id: released.id, claim: "c3", on: l, d) }
        #expect(back?.state == .queued && back?.attempts == 0)
        let page = try await store.call { s, l, d in s.jobs(tenantID: tenant, kind: jobKind, state: nil, before: nil, limit: 2, on: l, d) }
        #expect(page.items.map(\.id) == [released.id, running.id] && page.next == running.id)
        let rest = try await store.call { s, l, d in s.jobs(tenantID: tenant, kind: jobKind, state: nil, before: page.next, limit: 2, on: l, d) }
        #expect(rest.items.map(\.id) == [first.job.id] && rest.next == nil)
        let onlyCancelled = try await store.call { s, l, d in s.jobs(tenantID: tenant, kind: jobKind, state: .cancelled, before: nil, limit: 10, on: l, d) }
        #expect(onlyCancelled.items.map(\.id) == [running.id, first.job.id])
    }

    @Test("jobs: a batch claim under one token; the last deltas land with the completion", arguments: BackendKind.allCases)
    func jobBatches(kind: BackendKind) async throws {
        let store = try Fixture.store(kind)
        let tenant = try await Fixture.tenant(store)
        let jobKind = "batch-" + tenant
        var enqueued: [Int64] = []
        for i in 0..<5 {
            enqueued.append(try await store.call { s, l, d in s.enqueueJob(tenantID: tenant, kind: jobKind, payload: "{\"n\":\(i)}", on: l, d) }.job.id)
        }
        let ids = enqueued
        let batch = try await store.call { s, l, d in s.claimJobs(kind: jobKind, claim: "b1", leaseMilliseconds: 60_000, limit: 3, on: l, d) }
        #expect(batch.map(\.id) == Array(ids.prefix(3)) && batch.allSatisfy { $0.claim == "b1" && $0.state == .running })
        let rest = try await store.call { s, l, d in s.claimJobs(kind: jobKind, claim: "b2", leaseMilliseconds: 60_000, limit: 16, on: l, d) }
        #expect(rest.map(\.id) == Array(ids.suffix(2)))
        // One token, but every write names its job: completing one leaves the others running.
        let done = try await store.call { s, l, d in
            s.completeJob(id: ids[1], claim: "b1", result: "{}", document: JobDocumentWrite(documentID: nil, title: "t", body: "whole"),
                          tenantID: tenant, events: [("delta", #"{"attempt":1,"content":"whole"}"#)], on: l, d)
        }
        #expect(done.job.state == .succeeded && done.document?.body == "whole")
        #expect(try await store.call { s, l, d in s.heartbeatJob(id: ids[0], claim: "b1", on: l, d) } == false)
        #expect(try await store.call { s, l, d in s.heartbeatJob(id: ids[1], claim: "b1", on: l, d) } == nil)
        let events = try await store.call { s, l, d in s.jobEvents(tenantID: tenant, id: ids[1], after: 0, limit: 10, on: l, d) }
        #expect(events.events.map(\.type) == ["queued", "started", "delta"])
        // A lost claim writes neither the events nor the completion.
        #expect(await store.failure { s, l, d in
            s.completeJob(id: ids[3], claim: "b1", result: "{}", document: nil, tenantID: tenant, events: [("delta", "{}")], on: l, d)
        }?.httpStatus == 409)
        #expect(try await store.call { s, l, d in s.jobEvents(tenantID: tenant, id: ids[3], after: 0, limit: 10, on: l, d) }.events.map(\.type) == ["queued", "started"])
    }

    @Test("usage rows and totals", arguments: BackendKind.allCases)
    func usage(kind: BackendKind) async throws {
        let store = try Fixture.store(kind)
        let tenant = try await Fixture.tenant(store)
        let now = Store.now
        let rows = [UsageRow(tenantID: tenant, keyID: "k1", route: "/v1/chat/completions", promptTokens: 10, completionTokens: 5, at: now),
                    UsageRow(tenantID: tenant, keyID: nil, route: "/v1/embeddings", promptTokens: 7, completionTokens: 0, at: now),
                    UsageRow(tenantID: tenant, keyID: "k1", route: "/v1/chat/completions", promptTokens: 1, completionTokens: 1, at: now - 100_000)]
        try await store.call { s, l, d in s.recordUsage(rows, on: l, d) }
        let totals = try await store.call { s, l, d in s.usageTotals(tenantID: tenant, since: now - 1000, on: l, d) }
        #expect(totals == UsageTotals(requests: 2, promptTokens: 17, completionTokens: 5))

        let day = now / 86_400_000
        let calls = [UsageRow(tenantID: tenant, keyID: "k2", route: "/v1/chat/completions", promptTokens: 3, completionTokens: 4, at: now,
                              model: "writer", target: "primary/gpt", status: 200, latencyMs: 12, cache: "miss"),
                     UsageRow(tenantID: tenant, keyID: "k2", route: "/v1/chat/completions", promptTokens: 0, completionTokens: 0, at: now,
                              model: "writer", target: "primary/gpt", status: 200, latencyMs: 1, cache: "hit"),
                     UsageRow(tenantID: tenant, keyID: "k2", route: "/v1/chat/completions", promptTokens: 0, completionTokens: 0, at: now,
                              model: "writer", target: nil, status: 502, latencyMs: 30, cache: "bypass")]
        try await store.call { s, l, d in s.recordUsage(calls, on: l, d) }
        let summary = try await store.call { s, l, d in s.usageSummary(tenantID: tenant, since: now - 1000, until: now + 1, keyID: "k2", on: l, d) }
        #expect(summary == [UsageSummary(day: day, keyID: "k2", model: "writer", requests: 3, promptTokens: 3, completionTokens: 4,
                                         cacheHits: 1, errors: 1)])
        let all = try await store.call { s, l, d in s.usageSummary(tenantID: tenant, since: 0, until: now + 1, keyID: nil, on: l, d) }
        #expect(all.map(\.requests).reduce(0, +) == 6)
    }

    @Test("usage roll-ups move old rows into daily sums and change no figure", arguments: BackendKind.allCases)
    func usageRollUp(kind: BackendKind) async throws {
        let store = try Fixture.store(kind)
        let tenant = try await Fixture.tenant(store)
        let now = Store.now
        let old = now - 40 * 86_400_000
        var rows: [UsageRow] = []
        for i in 0..<5 {
            rows.append(UsageRow(tenantID: tenant, keyID: i < 3 ? "k1" : nil, route: "/v1/chat/completions", promptTokens: 10, completionTokens: Int64(i),
                                 at: old + Int64(i), model: "writer", target: "primary/gpt", status: i == 4 ? 502 : 200, latencyMs: 5,
                                 cache: i == 0 ? "hit" : (i == 1 ? nil : "miss")))
        }
        rows.append(UsageRow(tenantID: tenant, keyID: "k1", route: "/v1/chat/completions", promptTokens: 1, completionTokens: 1, at: now, model: "writer"))
        let batch = rows
        try await store.call { s, l, d in s.recordUsage(batch, on: l, d) }
        let before = try await store.call { s, l, d in s.usageSummary(tenantID: tenant, since: old - 1000, until: now + 1, keyID: nil, on: l, d) }
        let totalsBefore = try await store.call { s, l, d in s.usageTotals(tenantID: tenant, since: old - 1000, on: l, d) }
        let rolled = try await store.call { s, l, d in s.rollUpUsage(beforeDay: now / 86_400_000 - 30, on: l, d) }
        #expect(rolled >= 5)
        #expect(try await store.call { s, l, d in s.rollUpUsage(beforeDay: now / 86_400_000 - 30, on: l, d) } == 0)
        let after = try await store.call { s, l, d in s.usageSummary(tenantID: tenant, since: old - 1000, until: now + 1, keyID: nil, on: l, d) }
        #expect(after == before)
        #expect(before.count == 3 && before.first(where: { $0.keyID == "k1" && $0.day == old / 86_400_000 })?.cacheHits == 1)
        #expect(before.first(where: { $0.keyID == nil })?.errors == 1)
        #expect(try await store.call { s, l, d in s.usageTotals(tenantID: tenant, since: old - 1000, on: l, d) } == totalsBefore)
        let k1 = try await store.call { s, l, d in s.usageSummary(tenantID: tenant, since: old - 1000, until: now + 1, keyID: "k1", on: l, d) }
        #expect(k1.map(\.requests) == [3, 1])
        // Rows after the roll-up are added to the day's sums, not lost.
        try await store.call { s, l, d in s.recordUsage([UsageRow(tenantID: tenant, keyID: "k1", route: "/v1/chat/completions", promptTokens: 2,
                                                                  completionTokens: 0, at: old, model: "writer")], on: l, d) }
        _ = try await store.call { s, l, d in s.rollUpUsage(beforeDay: now / 86_400_000 - 30, on: l, d) }
        let k1After = try await store.call { s, l, d in s.usageSummary(tenantID: tenant, since: old - 1000, until: now + 1, keyID: "k1", on: l, d) }
        #expect(k1After.map(\.requests) == [4, 1] && k1After[0].promptTokens == 32)
    }

    @Test("schedules: one claimant per slot, missed slots run once, a dead runner is taken over", arguments: BackendKind.allCases)
    func schedules(kind: BackendKind) async throws {
        let store = try Fixture.store(kind)
        let name = "s-" + (try await Fixture.tenant(store))
        let hour: Int64 = 3_600_000
        let start = (Store.now / hour) * hour
        let registered = try await store.call { s, l, d in s.registerSchedule(name: name, cron: "0 * * * *", nextAt: start + hour, on: l, d) }
        #expect(registered.nextAt == start + hour && registered.holder == nil && registered.runs == 0)
        // Registering again (a restart, another replica) does not move the slot.
        #expect(try await store.call { s, l, d in s.registerSchedule(name: name, cron: "0 * * * *", nextAt: start + 2 * hour, on: l, d) }.nextAt == start + hour)
        // Not due yet.
        #expect(try await store.call { s, l, d in s.claimSchedule(name: name, holder: "a", now: start + 10, nextAfterNow: start + hour, leaseMilliseconds: 1000, on: l, d) }.claimed == false)
        // Five hours later: two runners ask at once; one wins, the slot is the missed one, and
        // the next is the first after now — the four missed slots do not queue up.
        let now = start + 5 * hour + 30
        async let first = store.call { s, l, d in s.claimSchedule(name: name, holder: "a", now: now, nextAfterNow: start + 6 * hour, leaseMilliseconds: 1000, on: l, d) }
        async let second = store.call { s, l, d in s.claimSchedule(name: name, holder: "b", now: now, nextAfterNow: start + 6 * hour, leaseMilliseconds: 1000, on: l, d) }
        let (x, y) = try await (first, second)
        #expect([x.claimed, y.claimed].filter { $0 }.count == 1)
        let winner = x.claimed ? "a" : "b"
        #expect(x.state.nextAt == start + 6 * hour && x.state.slot == start + hour && x.state.holder == winner)
        // The winner dies: until its lease ends nobody takes over; then the slot runs again.
        #expect(try await store.call { s, l, d in s.claimSchedule(name: name, holder: "c", now: now + 500, nextAfterNow: start + 6 * hour, leaseMilliseconds: 1000, on: l, d) }.claimed == false)
        let takeover = try await store.call { s, l, d in s.claimSchedule(name: name, holder: "c", now: now + 1001, nextAfterNow: start + 6 * hour, leaseMilliseconds: 1000, on: l, d) }
        #expect(takeover.claimed && takeover.state.slot == start + hour && takeover.state.nextAt == start + 6 * hour)
        #expect(try await store.call { s, l, d in s.heartbeatSchedule(name: name, holder: winner, leaseUntil: now + 5000, on: l, d) } == false)
        #expect(try await store.call { s, l, d in s.finishSchedule(name: name, holder: winner, error: nil, on: l, d) } == false)
        #expect(try await store.call { s, l, d in s.heartbeatSchedule(name: name, holder: "c", leaseUntil: now + 5000, on: l, d) })
        #expect(try await store.call { s, l, d in s.finishSchedule(name: name, holder: "c", error: "disk full", on: l, d) })
        let state = try await store.call { s, l, d in s.scheduleState(name: name, on: l, d) }
        #expect(state?.runs == 1 && state?.holder == nil && state?.lastError == "disk full")
        let runs = try await store.call { s, l, d in s.scheduleRuns(name: name, on: l, d) }
        #expect(runs.count == 1 && runs[0].slot == start + hour && runs[0].holder == "c" && runs[0].error == "disk full" && runs[0].finishedAt != nil)
        // Not due again until the next slot; a changed expression re-times the schedule.
        #expect(try await store.call { s, l, d in s.claimSchedule(name: name, holder: "d", now: now + 2000, nextAfterNow: start + 6 * hour, leaseMilliseconds: 1000, on: l, d) }.claimed == false)
        #expect(try await store.call { s, l, d in s.registerSchedule(name: name, cron: "*/5 * * * *", nextAt: now + 60_000, on: l, d) }.nextAt == now + 60_000)
    }

    @Test("concurrent batches get distinct, gap-free sequence numbers", arguments: BackendKind.allCases)
    func concurrentBatches(kind: BackendKind) async throws {
        let store = try Fixture.store(kind)
        let tenant = try await Fixture.tenant(store)
        let collection = try await store.call { s, l, d in s.createCollection(tenantID: tenant, name: "c", dimension: 2, metric: .l2, on: l, d) }
        let batches = 40, perBatch = 5
        try await withThrowingTaskGroup(of: WriteReceipt.self) { group in
            for b in 0..<batches {
                group.addTask {
                    let records = (0..<perBatch).map { RecordInput(id: "r\(b)-\($0)", vector: [Float(b), Float($0)]) }
                    return try await store.call { s, l, d in s.upsertRecords(records, into: collection, on: l, d) }
                }
            }
            var receipts: [WriteReceipt] = []
            for try await receipt in group { receipts.append(receipt) }
            #expect(Set(receipts.map(\.lastSequence)).count == batches)
        }
        let changes = try await store.call { s, l, d in s.changes(in: collection, after: 0, limit: 10_000, on: l, d) }
        #expect(changes.map(\.sequence) == Array(1...Int64(batches * perBatch)))
        #expect(Set(changes.map(\.id)).count == batches * perBatch)
    }
}
