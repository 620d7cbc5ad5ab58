import Foundation
import Net
import Testing
@testable import Gateway

/// `/v1/documents` through the real router, pipeline and Store (socket-free harness): create,
/// read with ETag and 304, guarded writes (428, 412, no lost update), metadata merge patches,
/// keyset pages and tampered cursors, versions and restore, tenants and roles, bad input.
@Suite("Documents")
struct DocumentsTests {
    func json(_ r: HTTPResponseRecorder) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any] ?? [:]
    }

    func auth(_ key: String, _ more: [(String, String)] = []) -> [(String, String)] {
        [("Authorization", "Bearer \(key)"), ("Content-Type", "application/json")] + more
    }

    @Test func createReadReplaceAndNoLostUpdate() throws {
        let h = try GatewayHarness()
        let writer = h.key(.writer)
        let created = try h.send("POST", "/v1/documents", headers: auth(writer),
                                 body: ##"{"title":"Draft","content":"# Once","metadata":{"tag":"a","n":1}}"##)
        #expect(created.status?.rawValue == 201)
        let id = try #require(json(created)["id"] as? Int)
        #expect(created.header("Location") == "/v1/documents/\(id)")
        #expect(created.header("ETag") == "\"\(id)-1\"")
        #expect(json(created)["content_type"] as? String == "text/markdown")

        let read = try h.send("GET", "/v1/documents/\(id)", headers: auth(writer))
        #expect(read.status?.rawValue == 200 && read.header("ETag") == "\"\(id)-1\"")
        let cached = try h.send("GET", "/v1/documents/\(id)", headers: auth(writer, [("If-None-Match", "W/\"\(id)-1\"")]))
        #expect(cached.status?.rawValue == 304 && cached.body.isEmpty)
        let raw = try h.send("GET", "/v1/documents/\(id)/content", headers: auth(writer))
        #expect(String(decoding: raw.body, as: UTF8.self) == "# Once" && raw.header("Content-Type") == "text/markdown; charset=utf-8")

        let put = #"{"title":"Draft 2","content":"Twice","content_type":"text/plain"}"#
        #expect(try h.send("PUT", "/v1/documents/\(id)", headers: auth(writer), body: put).status?.rawValue == 428)
        #expect(try h.send("PUT", "/v1/documents/\(id)", headers: auth(writer, [("If-Match", "\"\(id)-1")]), body: put).status?.rawValue == 400)
        #expect(try h.send("PUT", "/v1/documents/\(id)", headers: auth(writer, [("If-Match", "*")]), body: put).status?.rawValue == 412)
        let replaced = try h.send("PUT", "/v1/documents/\(id)", headers: auth(writer, [("If-Match", "\"\(id)-1\"")]), body: put)
        #expect(replaced.status?.rawValue == 200 && replaced.header("ETag") == "\"\(id)-2\"")
        #expect(json(replaced)["content_type"] as? String == "text/plain")
        // The second writer holding the old ETag loses, and nothing of its write lands.
        let late = try h.send("PUT", "/v1/documents/\(id)", headers: auth(writer, [("If-Match", "\"\(id)-1\"")]),
                              body: #"{"title":"lost","content":"lost"}"#)
        #expect(late.status?.rawValue == 412 && late.errorType == "precondition_failed")
        #expect(json(try h.send("GET", "/v1/documents/\(id)", headers: auth(writer)))["title"] as? String == "Draft 2")
        // A weak tag never satisfies If-Match.
        #expect(try h.send("PUT", "/v1/documents/\(id)", headers: auth(writer, [("If-Match", "W/\"\(id)-2\"")]), body: put).status?.rawValue == 412)
    }

    @Test func patchMergesMetadataUnderTheSameGuard() throws {
        let h = try GatewayHarness()
        let writer = h.key(.writer)
        let id = try #require(json(try h.send("POST", "/v1/documents", headers: auth(writer),
                                              body: #"{"title":"t","content":"c","metadata":{"a":1,"b":{"x":1,"y":2}}}"#))["id"] as? Int)
        let patched = try h.send("PATCH", "/v1/documents/\(id)", headers: auth(writer, [("If-Match", "\"\(id)-1\"")]),
                                 body: #"{"metadata":{"a":null,"b":{"y":3},"c":"new"}}"#)
        #expect(patched.status?.rawValue == 200)
        let metadata = json(patched)["metadata"] as? [String: Any]
        #expect(metadata?["a"] == nil && metadata?["c"] as? String == "new")
        #expect((metadata?["b"] as? [String: Int]) == ["x": 1, "y": 3])
        #expect(json(patched)["content"] as? String == "c" && json(patched)["version"] as? Int == 2)
        #expect(try h.send("PATCH", "/v1/documents/\(id)", headers: auth(writer, [("If-Match", "\"\(id)-1\"")]),
                           body: #"{"metadata":{"z":1}}"#).status?.rawValue == 412)
        #expect(try h.send("PATCH", "/v1/documents/\(id)", headers: auth(writer, [("If-Match", "\"\(id)-2\"")]),
                           body: #"{"title":"no"}"#).status?.rawValue == 400)
    }

    @Test func pagesAreStableAndCursorsCannotBeForged() throws {
        let h = try GatewayHarness()
        let writer = h.key(.writer)
        for i in 0..<7 {
            let tag = i % 2 == 0 ? "even" : "odd"
            _ = try h.send("POST", "/v1/documents", headers: auth(writer), body: #"{"title":"d\#(i)","content":"","metadata":{"kind":"\#(tag)"}}"#)
        }
        var titles: [String] = []
        var cursor: String?
        var pages = 0
        repeat {
            let query = cursor.map { "&cursor=\($0)" } ?? ""
            let page = try h.send("GET", "/v1/documents?limit=3\(query)", headers: auth(writer))
            #expect(page.status?.rawValue == 200)
            let body = json(page)
            titles += (body["documents"] as? [[String: Any]] ?? []).compactMap { $0["title"] as? String }
            cursor = body["next_cursor"] as? String
            pages += 1
            // A document created while paging lands after every cursor given out.
            if pages == 1 { _ = try h.send("POST", "/v1/documents", headers: auth(writer), body: #"{"title":"late","content":""}"#) }
        } while cursor != nil && pages < 10
        #expect(titles == ["d0", "d1", "d2", "d3", "d4", "d5", "d6", "late"])

        let even = json(try h.send("GET", "/v1/documents?metadata_key=kind&metadata_value=even", headers: auth(writer)))
        #expect((even["documents"] as? [[String: Any]])?.count == 4)

        let first = json(try h.send("GET", "/v1/documents?limit=2", headers: auth(writer)))
        let good = try #require(first["next_cursor"] as? String)
        var bytes = Array(good.utf8)
        bytes[3] = bytes[3] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let tampered = String(decoding: bytes, as: UTF8.self)
        #expect(try h.send("GET", "/v1/documents?limit=2&cursor=\(tampered)", headers: auth(writer)).errorType == "invalid_cursor")
        #expect(try h.send("GET", "/v1/documents?limit=2&cursor=\(good)&metadata_key=kind&metadata_value=odd",
                           headers: auth(writer)).status?.rawValue == 400, "a cursor belongs to its listing")
        #expect(try h.send("GET", "/v1/documents?limit=0", headers: auth(writer)).status?.rawValue == 400)
        #expect(try h.send("GET", "/v1/documents?limit=1001", headers: auth(writer)).status?.rawValue == 400)
        #expect(try h.send("GET", "/v1/documents?updated_since=yesterday", headers: auth(writer)).status?.rawValue == 400)
        let future = json(try h.send("GET", "/v1/documents?updated_since=\(Int64(Date().timeIntervalSince1970 * 1000) + 60_000)", headers: auth(writer)))
        #expect((future["documents"] as? [Any])?.isEmpty == true)
    }

    @Test func versionsAndRestore() throws {
        let h = try GatewayHarness()
        let writer = h.key(.writer)
        let id = try #require(json(try h.send("POST", "/v1/documents", headers: auth(writer), body: #"{"title":"v1","content":"one"}"#))["id"] as? Int)
        for v in 1...3 {
            _ = try h.send("PUT", "/v1/documents/\(id)", headers: auth(writer, [("If-Match", "\"\(id)-\(v)\"")]),
                           body: #"{"title":"v\#(v + 1)","content":"n\#(v + 1)"}"#)
        }
        let page = json(try h.send("GET", "/v1/documents/\(id)/versions?limit=3", headers: auth(writer)))
        #expect((page["versions"] as? [[String: Any]])?.compactMap { $0["version"] as? Int } == [1, 2, 3])
        let rest = json(try h.send("GET", "/v1/documents/\(id)/versions?cursor=\(page["next_cursor"] as? String ?? "")", headers: auth(writer)))
        #expect((rest["versions"] as? [[String: Any]])?.compactMap { $0["version"] as? Int } == [4])
        let one = try h.send("GET", "/v1/documents/\(id)/versions/1", headers: auth(writer))
        #expect(json(one)["content"] as? String == "one")
        #expect(try h.send("GET", "/v1/documents/\(id)/versions/9", headers: auth(writer)).status?.rawValue == 404)
        let restored = try h.send("POST", "/v1/documents/\(id)/versions/1/restore", headers: auth(writer))
        #expect(restored.status?.rawValue == 201 && json(restored)["version"] as? Int == 5 && json(restored)["content"] as? String == "one")
        #expect(try h.send("POST", "/v1/documents/\(id)/versions/2/restore", headers: auth(writer, [("If-Match", "\"\(id)-4\"")])).status?.rawValue == 412)
        #expect(try h.send("POST", "/v1/documents/\(id)/versions/77/restore", headers: auth(writer)).status?.rawValue == 404)
    }

    @Test func tenantsRolesAndDeletes() throws {
        let h = try GatewayHarness()
        let writer = h.key(.writer)
        let reader = h.key(.reader)
        let stranger = h.key(.admin, tenant: "other")
        let id = try #require(json(try h.send("POST", "/v1/documents", headers: auth(writer), body: #"{"title":"t","content":"c"}"#))["id"] as? Int)
        #expect(try h.send("GET", "/v1/documents/\(id)", headers: auth(reader)).status?.rawValue == 200)
        #expect(try h.send("POST", "/v1/documents", headers: auth(reader), body: #"{"title":"t","content":"c"}"#).status?.rawValue == 403)
        #expect(try h.send("DELETE", "/v1/documents/\(id)", headers: auth(reader)).status?.rawValue == 403)
        for (method, path) in [("GET", ""), ("GET", "/versions"), ("GET", "/versions/1"), ("GET", "/content"), ("DELETE", "")] {
            #expect(try h.send(method, "/v1/documents/\(id)\(path)", headers: auth(stranger)).status?.rawValue == 404, "\(method) \(path)")
        }
        #expect(try h.send("PUT", "/v1/documents/\(id)", headers: auth(stranger, [("If-Match", "\"\(id)-1\"")]),
                           body: #"{"title":"x","content":"y"}"#).status?.rawValue == 404)
        #expect(try h.send("DELETE", "/v1/documents/\(id)", headers: auth(writer)).status?.rawValue == 204)
        #expect(try h.send("GET", "/v1/documents/\(id)", headers: auth(writer)).status?.rawValue == 404)
        #expect(try h.send("DELETE", "/v1/documents/\(id)", headers: auth(writer)).status?.rawValue == 404)
    }

    @Test("bad bodies are 400 and write nothing", arguments: [
        #"{"title":"t"}"#, #"{"content":"c"}"#, #"{"title":1,"content":"c"}"#, #"{"title":"t","content":"c","colour":"red"}"#,
        #"{"title":"t","content":"c","metadata":[1]}"#, #"{"title":"t","content":"c","metadata":"x"}"#,
        #"{"title":"t","content":"c","content_type":"application/pdf"}"#, #"["title"]"#, #"{"title":"t","content":"c""#,
        "{\"title\":\"t\",\"content\":\"\u{0}\"}",
    ])
    func badBodies(_ body: String) throws {
        let h = try GatewayHarness()
        let writer = h.key(.writer)
        let r = try h.send("POST", "/v1/documents", headers: auth(writer), body: body)
        #expect((400...422).contains(r.status?.rawValue ?? 0), "\(String(describing: r.status)) for \(body)")
        #expect((json(try h.send("GET", "/v1/documents", headers: auth(writer)))["documents"] as? [Any])?.isEmpty == true)
    }

    @Test func invalidUTF8IsRefused() throws {
        // The harness speaks Strings (which repair bad UTF-8), so the body parser is asked directly.
        let bytes = Array(#"{"title":"t","content":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(bytes) }
    }

    @Test("precondition lists", arguments: [
        (#""a""#, true), (#"W/"a", "b""#, true), ("*", true), (" * ", true), (#""a", , "b""#, true),
        ("", false), (#""a"#, false), (#"a"#, false), (#"W"a""#, false), ("*, \"a\"", false), (#""a" "b""#, false), (",", false),
    ])
    func entityTags(_ text: String, _ valid: Bool) {
        #expect(((try? EntityTag.parse(text)) != nil) == valid, "\(text)")
    }

    @Test func cursorsRoundTripAndRefuseEdits() throws {
        for position in [Int64(0), 1, 255, 1 << 40, .max] {
            let c = PageCursor.encode(position, scope: "s")
            #expect(try PageCursor.decode(c, scope: "s") == position)
            #expect(throws: GatewayError.self) { try PageCursor.decode(c, scope: "t") }
            for i in 0..<c.utf8.count {
                var b = Array(c.utf8)
                b[i] = b[i] == UInt8(ascii: "x") ? UInt8(ascii: "y") : UInt8(ascii: "x")
                #expect(throws: GatewayError.self) { try PageCursor.decode(String(decoding: b, as: UTF8.self), scope: "s") }
            }
        }
        #expect(throws: GatewayError.self) { try PageCursor.decode("", scope: "s") }
        #expect(throws: GatewayError.self) { try PageCursor.decode(String(repeating: "A", count: 500), scope: "s") }
    }
}
