import Foundation
import Net
import Storage
import Testing
import TestSupport
@testable import Gateway

/// `/v1/files`: the routes through the socket-free harness (versions, conditionals, ranges,
/// names, multipart and its abuse, tenants and roles), the multipart parser split at every
/// point, and real servers over sockets for what only a socket shows — a body streamed in
/// pieces with flow control, 413 and 100-continue, kill -9 during and after an upload, a
/// corrupted blob, and two replicas sharing files through PostgreSQL.
@Suite("Files")
struct FilesTests {
    func json(_ r: HTTPResponseRecorder) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any] ?? [:]
    }

    func auth(_ key: String, _ more: [(String, String)] = []) -> [(String, String)] {
        [("Authorization", "Bearer \(key)")] + more
    }

    static func sha(_ bytes: [UInt8]) -> String { Blobs.hex(bytes.withUnsafeBytes { Digests.sha256($0) }) }

    @Test func rawUploadVersionsConditionalsAndRanges() throws {
        let h = try GatewayHarness()
        let writer = h.key(.writer)
        let body = "hello, files"
        let created = try h.send("POST", "/v1/files?name=notes.txt", headers: auth(writer, [("Content-Type", "text/plain")]), body: body)
        #expect(created.status?.rawValue == 201)
        let id = try #require(json(created)["id"] as? Int)
        #expect(created.header("Location") == "/v1/files/\(id)")
        #expect(json(created)["sha256"] as? String == Self.sha(Array(body.utf8)))
        #expect(json(created)["size"] as? Int == body.utf8.count && json(created)["version"] as? Int == 1)
        #expect(json(created)["name"] as? String == "notes.txt" && json(created)["content_type"] as? String == "text/plain")

        let content = try h.send("GET", "/v1/files/\(id)/content", headers: auth(writer))
        #expect(content.status?.rawValue == 200 && content.bodyText == body)
        #expect(content.header("Content-Type") == "text/plain")
        #expect(content.header("ETag") == "\"\(Self.sha(Array(body.utf8)))\"")
        #expect(content.header("Content-Disposition") == "attachment; filename=\"notes.txt\"; filename*=UTF-8''notes.txt")
        #expect(content.header("Last-Modified") != nil)
        let tag = try #require(content.header("ETag"))
        #expect(try h.send("GET", "/v1/files/\(id)/content", headers: auth(writer, [("If-None-Match", tag)])).status?.rawValue == 304)
        #expect(try h.send("GET", "/v1/files/\(id)/content", headers: auth(writer, [("If-None-Match", "\"x")])).status?.rawValue == 400)

        let part = try h.send("GET", "/v1/files/\(id)/content", headers: auth(writer, [("Range", "bytes=0-4")]))
        #expect(part.status?.rawValue == 206 && part.bodyText == "hello" && part.header("Content-Range") == "bytes 0-4/\(body.utf8.count)")
        let tail = try h.send("GET", "/v1/files/\(id)/content", headers: auth(writer, [("Range", "bytes=-5")]))
        #expect(tail.status?.rawValue == 206 && tail.bodyText == "files")
        let past = try h.send("GET", "/v1/files/\(id)/content", headers: auth(writer, [("Range", "bytes=100-200")]))
        #expect(past.status?.rawValue == 416 && past.header("Content-Range") == "bytes */\(body.utf8.count)")
        for abuse in ["bytes=0-1,3-4", "bytes=99999999999999999999-", "items=0-1", "bytes=5-2", String(repeating: "bytes=0-1,", count: 100)] {
            let whole = try h.send("GET", "/v1/files/\(id)/content", headers: auth(writer, [("Range", abuse)]))
            #expect(whole.status?.rawValue == 200 && whole.bodyText == body, "\(abuse)")
        }
        let stale = try h.send("GET", "/v1/files/\(id)/content", headers: auth(writer, [("Range", "bytes=0-4"), ("If-Range", "\"other\"")]))
        #expect(stale.status?.rawValue == 200 && stale.bodyText == body)
        let head = try h.send("HEAD", "/v1/files/\(id)/content", headers: auth(writer))
        #expect(head.status?.rawValue == 200 && head.body.isEmpty)

        // The same name again: version 2 of the same file; version 1 stays readable.
        let second = try h.send("POST", "/v1/files", headers: auth(writer, [("X-File-Name", "notes.txt"), ("Content-Type", "text/markdown")]),
                                body: "# two")
        #expect(second.status?.rawValue == 201 && json(second)["id"] as? Int == id && json(second)["version"] as? Int == 2)
        #expect(try h.send("GET", "/v1/files/\(id)/content", headers: auth(writer)).bodyText == "# two")
        #expect(try h.send("GET", "/v1/files/\(id)/content?version=1", headers: auth(writer)).bodyText == body)
        #expect(try h.send("GET", "/v1/files/\(id)/content?version=9", headers: auth(writer)).status?.rawValue == 404)
        #expect(try h.send("GET", "/v1/files/\(id)/content?version=x", headers: auth(writer)).status?.rawValue == 400)
        let versions = json(try h.send("GET", "/v1/files/\(id)/versions", headers: auth(writer)))
        #expect((versions["versions"] as? [[String: Any]])?.map { $0["version"] as? Int } == [1, 2])
        let page = json(try h.send("GET", "/v1/files/\(id)/versions?limit=1", headers: auth(writer)))
        let cursor = try #require(page["next_cursor"] as? String)
        let rest = json(try h.send("GET", "/v1/files/\(id)/versions?limit=1&cursor=\(cursor)", headers: auth(writer)))
        #expect((rest["versions"] as? [[String: Any]])?.first?["version"] as? Int == 2)
        #expect(try h.send("GET", "/v1/files/\(id)/versions?cursor=AAAA", headers: auth(writer)).status?.rawValue == 400)
        let meta = try h.send("GET", "/v1/files/\(id)", headers: auth(writer))
        #expect(json(meta)["version"] as? Int == 2 && meta.header("ETag") == "\"f\(id)-2\"")
        #expect((json(try h.send("GET", "/v1/files", headers: auth(writer)))["files"] as? [Any])?.count == 1)

        // Tenants and roles.
        let other = h.key(.admin, tenant: "other")
        #expect(try h.send("GET", "/v1/files/\(id)/content", headers: auth(other)).status?.rawValue == 404)
        #expect(try h.send("DELETE", "/v1/files/\(id)", headers: auth(other)).status?.rawValue == 404)
        let reader = h.key(.reader)
        #expect(try h.send("GET", "/v1/files/\(id)/content", headers: auth(reader)).status?.rawValue == 200)
        #expect(try h.send("POST", "/v1/files?name=x", headers: auth(reader), body: "x").status?.rawValue == 403)
        #expect(try h.send("DELETE", "/v1/files/\(id)", headers: auth(reader)).status?.rawValue == 403)

        #expect(try h.send("DELETE", "/v1/files/\(id)", headers: auth(writer)).status?.rawValue == 204)
        #expect(try h.send("GET", "/v1/files/\(id)", headers: auth(writer)).status?.rawValue == 404)
        #expect(try h.send("GET", "/v1/files/\(id)/content", headers: auth(writer)).status?.rawValue == 404)
    }

    @Test func badNamesAndTypesAreRefusedAndNothingIsWritten() throws {
        let h = try GatewayHarness()
        let writer = h.key(.writer)
        for target in ["/v1/files?name=a%2Fb", "/v1/files?name=a%5Cb", "/v1/files?name=..", "/v1/files?name=.", "/v1/files?name=a%00b",
                       "/v1/files?name=a%0Ab", "/v1/files?name=", "/v1/files?name=\(String(repeating: "n", count: 256))", "/v1/files"] {
            let r = try h.send("POST", target, headers: auth(writer, [("Content-Type", "text/plain")]), body: "x")
            #expect(r.status?.rawValue == 400, "\(target): \(r.bodyText)")
        }
        for header in ["a/b", "..", "a\\b"] {
            #expect(try h.send("POST", "/v1/files", headers: auth(writer, [("X-File-Name", header)]), body: "x").status?.rawValue == 400)
        }
        #expect(try h.send("POST", "/v1/files?name=ok", headers: auth(writer, [("Content-Type", "nonsense")]), body: "x").status?.rawValue == 400)
        #expect((json(try h.send("GET", "/v1/files", headers: auth(writer)))["files"] as? [Any])?.count == 0)
        // An empty file is a file.
        let empty = try h.send("POST", "/v1/files?name=empty", headers: auth(writer), body: "")
        #expect(empty.status?.rawValue == 201 && json(empty)["size"] as? Int == 0)
        let id = try #require(json(empty)["id"] as? Int)
        let content = try h.send("GET", "/v1/files/\(id)/content", headers: auth(writer))
        #expect(content.status?.rawValue == 200 && content.body.isEmpty)
        #expect(try h.send("GET", "/v1/files/\(id)/content", headers: auth(writer, [("Range", "bytes=0-0")])).status?.rawValue == 416)
    }

    static func form(_ boundary: String, _ parts: [(headers: String, body: String)], close: Bool = true) -> String {
        var s = ""
        for part in parts { s += "--\(boundary)\r\n\(part.headers)\r\n\r\n\(part.body)\r\n" }
        if close { s += "--\(boundary)--\r\n" }
        return s
    }

    @Test func multipartUploadsAndItsAbuse() throws {
        let h = try GatewayHarness()
        let writer = h.key(.writer)
        let b = "----aiwriterBoundary7MA4YWxkTrZu0gW"
        func post(_ body: String, type: String = "multipart/form-data; boundary=\(b)", target: String = "/v1/files") throws -> HTTPResponseRecorder {
            try h.send("POST", target, headers: auth(writer, [("Content-Type", type)]), body: body)
        }
        let payload = "line one\r\n--not-the-boundary\r\n\r\nline three"
        let ok = try post(Self.form(b, [("Content-Disposition: form-data; name=\"note\"", "ignored"),
                                        ("Content-Disposition: form-data; name=\"file\"; filename=\"draft.md\"\r\nContent-Type: text/markdown", payload)]))
        #expect(ok.status?.rawValue == 201, "\(ok.bodyText)")
        #expect(json(ok)["name"] as? String == "draft.md" && json(ok)["content_type"] as? String == "text/markdown")
        #expect(json(ok)["sha256"] as? String == Self.sha(Array(payload.utf8)))
        let id = try #require(json(ok)["id"] as? Int)
        #expect(try h.send("GET", "/v1/files/\(id)/content", headers: auth(writer)).bodyText == payload)

        // A name field wins over the filename; filename* (RFC 5987) over filename; quoted boundary.
        let named = try post(Self.form(b, [("Content-Disposition: form-data; name=\"name\"", "chosen.txt"),
                                           ("Content-Disposition: form-data; name=\"file\"; filename=\"x.txt\"", "a")]))
        #expect(json(named)["name"] as? String == "chosen.txt")
        let utf8 = try post(Self.form(b, [("Content-Disposition: form-data; name=\"file\"; filename=\"fallback.txt\"; filename*=UTF-8''%C3%A9t%C3%A9.txt", "b")]),
                            type: "multipart/form-data; boundary=\"\(b)\"")
        #expect(json(utf8)["name"] as? String == "été.txt", "\(utf8.bodyText)")
        let utf8ID = try #require(json(utf8)["id"] as? Int)
        #expect(try h.send("GET", "/v1/files/\(utf8ID)/content", headers: auth(writer)).header("Content-Disposition")
                == "attachment; filename=\"_t_.txt\"; filename*=UTF-8''%C3%A9t%C3%A9.txt")

        let before = (json(try h.send("GET", "/v1/files", headers: auth(writer)))["files"] as? [Any])?.count
        let manyParts = Self.form(b, (0..<2000).map { _ in ("Content-Disposition: form-data; name=\"f\"", "x") })
        let hugeHeader = Self.form(b, [("Content-Disposition: form-data; name=\"file\"; filename=\"\(String(repeating: "h", count: 9000))\"", "x")])
        let cases: [(String, String, String)] = [
            ("no boundary parameter", "multipart/form-data", Self.form(b, [("Content-Disposition: form-data; name=\"file\"; filename=\"a\"", "x")])),
            ("repeated boundary", "multipart/form-data; boundary=\(b); boundary=x", Self.form(b, [("Content-Disposition: form-data; name=\"file\"; filename=\"a\"", "x")])),
            ("boundary too long", "multipart/form-data; boundary=\(String(repeating: "b", count: 71))", "x"),
            ("no boundary line", "multipart/form-data; boundary=\(b)", "just text"),
            ("no closing boundary", "multipart/form-data; boundary=\(b)", Self.form(b, [("Content-Disposition: form-data; name=\"file\"; filename=\"a\"", "x")], close: false)),
            ("thousands of parts", "multipart/form-data; boundary=\(b)", manyParts),
            ("part header over the limit", "multipart/form-data; boundary=\(b)", hugeHeader),
            ("two file parts", "multipart/form-data; boundary=\(b)", Self.form(b, [("Content-Disposition: form-data; name=\"file\"; filename=\"a\"", "x"),
                                                                                  ("Content-Disposition: form-data; name=\"file\"; filename=\"b\"", "y")])),
            ("no file part", "multipart/form-data; boundary=\(b)", Self.form(b, [("Content-Disposition: form-data; name=\"other\"", "x")])),
            ("not form-data", "multipart/form-data; boundary=\(b)", Self.form(b, [("Content-Disposition: attachment; name=\"file\"", "x")])),
            ("a file name with a slash", "multipart/form-data; boundary=\(b)", Self.form(b, [("Content-Disposition: form-data; name=\"file\"; filename=\"../etc/passwd\"", "x")])),
            ("a header without a colon", "multipart/form-data; boundary=\(b)", Self.form(b, [("Content-Disposition form-data", "x")])),
            ("text after the boundary", "multipart/form-data; boundary=\(b)", "--\(b)junk\r\n\r\nx\r\n--\(b)--\r\n"),
        ]
        for (what, type, body) in cases {
            let r = try post(body, type: type)
            #expect(r.status?.rawValue == 400, "\(what): \(r.status?.rawValue ?? 0) \(r.bodyText)")
        }
        #expect((json(try h.send("GET", "/v1/files", headers: auth(writer)))["files"] as? [Any])?.count == before)
    }

    /// Every split of a form into two pieces, and byte by byte, gives the same parts and data.
    @Test func multipartParserIsSplitInvariant() throws {
        let b = "xyz"
        let body = Array(Self.form(b, [("Content-Disposition: form-data; name=\"name\"", "n.txt"),
                                       ("Content-Disposition: form-data; name=\"file\"; filename=\"f\"\r\nContent-Type: a/b", "\r\n--xy\r\r\n--xz--\r\n")]).utf8)
        func parse(_ pieces: [ArraySlice<UInt8>]) throws -> [String] {
            var parser = MultipartFormParser(boundary: b)
            var events: [String] = []
            var data: [UInt8] = []
            for piece in pieces {
                try Array(piece).withUnsafeBytes { bytes in
                    try parser.feed(bytes) { (event) throws(MultipartFormParser.Failure) in
                        switch event {
                        case .partBegan(let head): events.append("begin \(head.name ?? "") \(head.filename ?? "") \(head.contentType ?? "")")
                        case .data(let d): data.append(contentsOf: d)
                        case .partEnded: events.append("data \(String(decoding: data, as: UTF8.self).debugDescription)"); data = []
                        }
                    }
                }
            }
            try parser.finish()
            return events
        }
        let whole = try parse([body[...]])
        #expect(whole == ["begin name  ", "data \"n.txt\"", "begin file f a/b", "data \"\\r\\n--xy\\r\\r\\n--xz--\\r\\n\""])
        for cut in 0...body.count {
            #expect(try parse([body[..<cut], body[cut...]]) == whole, "cut at \(cut)")
        }
        #expect(try parse(body.indices.map { body[$0...$0] }) == whole)
    }

    // MARK: Over sockets

    final class Gateway {
        let directory: String
        var child: ChildProcess
        var port: Int
        let extra: [String]
        let environment: [String: String]

        init(directory: String? = nil, database: String? = nil, _ extra: [String] = []) throws {
            self.directory = directory ?? NSTemporaryDirectory() + "aiwriter-files-\(UUID().uuidString)"
            self.extra = extra
            var environment = ["AIWRITER_DATA_DIR": self.directory]
            if let database { environment["AIWRITER_DATABASE_URL"] = database }
            self.environment = environment
            (child, port) = try Gateway.start(environment, extra)
        }

        static func start(_ environment: [String: String], _ extra: [String]) throws -> (ChildProcess, Int) {
            let child = try ChildProcess(executable: try RateLimitTests.binary(),
                                         arguments: ["serve", "--port", "0", "--loops", "2", "--migrate", "true"] + extra, environment: environment)
            guard let port = child.listeningPort(seconds: 20) else { throw RawClient.Failure(description: "no listening line: \(child.stderrText)") }
            return (child, port)
        }

        func restart() throws {
            child.signal(SIGKILL)
            _ = child.waitForExit(seconds: 10)
            (child, port) = try Gateway.start(environment, extra)
        }

        func key(_ role: String = "writer") throws -> String {
            var arguments = ["AIWRITER_DATA_DIR=\(directory)", "AIWRITER_MIGRATE=true"]
            if let database = environment["AIWRITER_DATABASE_URL"] { arguments.append("AIWRITER_DATABASE_URL=\(database)") }
            let (status, out, err) = try run(arguments + [try RateLimitTests.binary(), "keys", "create", "--tenant", "acme", "--role", role])
            guard status == 0, let secret = out.split(separator: "\n").last.map(String.init) else {
                throw RawClient.Failure(description: "keys create failed: \(out) \(err)")
            }
            return secret
        }

        func stop() {
            child.signal(SIGKILL)
            _ = child.waitForExit(seconds: 10)
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    static func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        var out = [UInt8](repeating: 0, count: count)
        var i = 0
        while i < count {
            var v = rng.next()
            for _ in 0..<8 where i < count { out[i] = UInt8(truncatingIfNeeded: v); v >>= 8; i += 1 }
        }
        return out
    }

    /// Uploads `bytes` raw in `piece`-sized sends (chunked framing when asked).
    static func upload(_ port: Int, _ secret: String, name: String, _ bytes: [UInt8], chunked: Bool = false, piece: Int = 65536) throws -> HTTPTestResponse {
        let client = try RawClient(port: port, timeoutSeconds: 30)
        var head = "POST /v1/files?name=\(name) HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(secret)\r\nContent-Type: application/octet-stream\r\n"
        head += chunked ? "Transfer-Encoding: chunked\r\n\r\n" : "Content-Length: \(bytes.count)\r\n\r\n"
        guard client.send(head) else { throw RawClient.Failure(description: "send failed") }
        var offset = 0
        while offset < bytes.count {
            let n = min(piece, bytes.count - offset)
            let slice = Array(bytes[offset..<offset + n])
            let sent = chunked ? client.send(Array((String(n, radix: 16) + "\r\n").utf8) + slice + [13, 10]) : client.send(slice)
            guard sent else { break }
            offset += n
        }
        if chunked { client.send("0\r\n\r\n") }
        return try client.readResponse()
    }

    static func download(_ port: Int, _ secret: String, _ id: Int, range: String? = nil) throws -> HTTPTestResponse {
        let client = try RawClient(port: port, timeoutSeconds: 30)
        let extra = range.map { "Range: \($0)\r\n" } ?? ""
        return try client.roundTrip("GET /v1/files/\(id)/content HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(secret)\r\n\(extra)\r\n")
    }

    @Test func streamedUploadsOverSocketsWithLimitsAndContinue() throws {
        // The server's buffered-body limit is far below the upload: only a streamed body gets in.
        let g = try Gateway(["--files-max-bytes", "8MiB", "--max-body-bytes", "64KiB"])
        defer { g.stop() }
        let secret = try g.key()
        let bytes = Self.randomBytes(7 << 20 | 12345, seed: 1)
        for chunked in [false, true] {
            let r = try Self.upload(g.port, secret, name: "big-\(chunked).bin", bytes, chunked: chunked, piece: 100_003)
            #expect(r.status == 201, "\(r)")
            let object = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]
            #expect(object?["sha256"] as? String == Self.sha(bytes) && object?["size"] as? Int == bytes.count)
            let id = try #require(object?["id"] as? Int)
            let back = try Self.download(g.port, secret, id)
            #expect(back.status == 200 && back.body.count == bytes.count && Self.sha(back.body) == Self.sha(bytes))
            let range = try Self.download(g.port, secret, id, range: "bytes=3000000-3000009")
            #expect(range.status == 206 && range.body == Array(bytes[3_000_000...3_000_009]))
        }
        // Over the limit: at once when Content-Length says so, mid-stream when chunked.
        let tooBig = Self.randomBytes(9 << 20, seed: 2)
        let declared = try RawClient(port: g.port)
        declared.send("POST /v1/files?name=x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(secret)\r\nContent-Length: \(tooBig.count)\r\n\r\n")
        #expect(try declared.readResponse().status == 413)
        let streamed = try Self.upload(g.port, secret, name: "chunked-too-big", tooBig, chunked: true)
        #expect(streamed.status == 413)

        // Expect: 100-continue: a bad key is refused before any of the body is asked for; a good
        // one is told to continue.
        let refused = try RawClient(port: g.port)
        refused.send("POST /v1/files?name=c HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer nope\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        #expect(try refused.readResponse().status == 401)
        let allowed = try RawClient(port: g.port)
        allowed.send("POST /v1/files?name=c HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(secret)\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        #expect(try allowed.readResponse().status == 100)
        allowed.send("hello")
        #expect(try allowed.readResponse().status == 201)
        // The connection stays usable after a streamed upload.
        let listing = try allowed.roundTrip("GET /v1/files HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(secret)\r\n\r\n")
        #expect(listing.status == 200 && listing.bodyText.contains("\"c\""))
        #expect(!listing.bodyText.contains("chunked-too-big") && !listing.bodyText.contains("\"x\""))
    }

    @Test func killDuringAnUploadLeavesNothingAndAfterAnAcknowledgementLosesNothing() throws {
        let g = try Gateway()
        defer { g.stop() }
        let secret = try g.key()
        // Half an upload, then kill -9.
        let half = try RawClient(port: g.port)
        half.send("POST /v1/files?name=partial HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(secret)\r\nContent-Length: \(4 << 20)\r\n\r\n")
        half.send(Self.randomBytes(3 << 20, seed: 3))
        Thread.sleep(forTimeInterval: 0.5)
        try g.restart()
        let list = try RawClient(port: g.port).roundTrip("GET /v1/files HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(secret)\r\n\r\n")
        #expect(list.status == 200 && list.bodyText.contains("\"files\":[]"))
        let blobs = (try? FileManager.default.subpathsOfDirectory(atPath: g.directory + "/files/blobs")) ?? []
        #expect(blobs.filter { $0.count > 3 }.isEmpty, "\(blobs)")

        // Acknowledged, then kill -9: it is all there.
        let bytes = Self.randomBytes(3 << 20, seed: 4)
        let r = try Self.upload(g.port, secret, name: "kept.bin", bytes)
        #expect(r.status == 201)
        let id = try #require((try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])?["id"] as? Int)
        try g.restart()
        let back = try Self.download(g.port, secret, id)
        #expect(back.status == 200 && Self.sha(back.body) == Self.sha(bytes))

        // A blob damaged on disk: the download is cut short, never completed with wrong bytes.
        let path = g.directory + "/files/blobs/" + String(Self.sha(bytes).prefix(2)) + "/" + Self.sha(bytes)
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: 1_000_000)
        try handle.write(contentsOf: Data([0xFF, 0x00, 0xFF]))
        try handle.close()
        let client = try RawClient(port: g.port, timeoutSeconds: 10)
        client.send("GET /v1/files/\(id)/content HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(secret)\r\n\r\n")
        #expect(throws: RawClient.Failure.self) { try client.readResponse() }
        // A range is served from the bytes as they are (checking it would read the whole blob).
        #expect(try Self.download(g.port, secret, id, range: "bytes=0-9").status == 206)
    }

    @Test func replicasShareFilesThroughPostgreSQL() throws {
        let database = try RateLimitTests.database()
        let a = try Gateway(database: database)
        defer { a.stop() }
        let b = try Gateway(database: database)
        defer { b.stop() }
        let secret = try a.key()
        let bytes = Self.randomBytes((5 << 20) + 777, seed: 5)
        let r = try Self.upload(a.port, secret, name: "shared.bin", bytes, piece: 333_333)
        #expect(r.status == 201, "\(r)")
        let id = try #require((try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])?["id"] as? Int)
        let back = try Self.download(b.port, secret, id)
        #expect(back.status == 200 && Self.sha(back.body) == Self.sha(bytes))
        // A range across a chunk boundary (1 MiB chunks).
        let across = try Self.download(b.port, secret, id, range: "bytes=1048570-1048585")
        #expect(across.status == 206 && across.body == Array(bytes[1_048_570...1_048_585]))
        // The same bytes under another name share the blob; a new version of the name works too.
        #expect(try Self.upload(b.port, secret, name: "copy.bin", bytes).status == 201)
        let again = try Self.upload(b.port, secret, name: "shared.bin", Array(bytes.prefix(10)))
        #expect(again.status == 201 && again.bodyText.contains("\"version\":2"))
        let blobs = try run(["/usr/bin/psql", database, "-Atc", "SELECT count(*) FROM file_blobs WHERE complete = 1"]).1
        #expect(blobs.trimmingCharacters(in: .whitespacesAndNewlines) == "2")
        // Killed mid-upload on PostgreSQL: nothing visible.
        let half = try RawClient(port: a.port)
        half.send("POST /v1/files?name=partial HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(secret)\r\nContent-Length: \(4 << 20)\r\n\r\n")
        half.send(Self.randomBytes(3 << 20, seed: 6))
        Thread.sleep(forTimeInterval: 0.5)
        try a.restart()
        let list = try RawClient(port: b.port).roundTrip("GET /v1/files HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(secret)\r\n\r\n")
        #expect(list.status == 200 && !list.bodyText.contains("partial"))
    }
}
