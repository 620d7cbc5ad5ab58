import Foundation
import Net
import Testing
@testable import Gateway

/// `static-dir` through the real router (socket-free harness) on a scratch folder: types,
/// index.html, validators and 304, ranges, pre-compressed siblings, and every way out of the
/// folder refused.
@Suite("Static assets")
struct StaticAssetsTests {
    let folder: String
    let outside: String

    init() throws {
        let base = NSTemporaryDirectory() + "aiwriter-static-\(UUID().uuidString)"
        folder = base + "/site"
        outside = base + "/secret.txt"
        let fm = FileManager.default
        try fm.createDirectory(atPath: folder + "/css", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: folder + "/docs", withIntermediateDirectories: true)
        try "<h1>home</h1>".write(toFile: folder + "/index.html", atomically: true, encoding: .utf8)
        try "<h1>docs</h1>".write(toFile: folder + "/docs/index.html", atomically: true, encoding: .utf8)
        try "body{color:red}".write(toFile: folder + "/css/site.css", atomically: true, encoding: .utf8)
        try "0123456789".write(toFile: folder + "/digits.txt", atomically: true, encoding: .utf8)
        try "console.log(1)".write(toFile: folder + "/app.js", atomically: true, encoding: .utf8)
        try "BROTLI".write(toFile: folder + "/app.js.br", atomically: true, encoding: .utf8)
        try "GZIP".write(toFile: folder + "/app.js.gz", atomically: true, encoding: .utf8)
        try "hidden".write(toFile: folder + "/.env", atomically: true, encoding: .utf8)
        try "top secret".write(toFile: outside, atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(atPath: folder + "/escape.txt", withDestinationPath: outside)
        try fm.createSymbolicLink(atPath: folder + "/inner.txt", withDestinationPath: folder + "/digits.txt")
    }

    func harness() throws -> GatewayHarness {
        try GatewayHarness { $0.staticAssets.directory = folder }
    }

    func text(_ r: HTTPResponseRecorder) -> String { String(decoding: r.body, as: UTF8.self) }

    @Test func servesFilesWithTypesAndIndexes() throws {
        let h = try harness()
        let home = try h.send("GET", "/")
        #expect(home.status?.rawValue == 200 && text(home) == "<h1>home</h1>" && home.header("Content-Type") == "text/html; charset=utf-8")
        #expect(text(try h.send("GET", "/docs/")) == "<h1>docs</h1>")
        #expect(text(try h.send("GET", "/docs")) == "<h1>docs</h1>")
        let css = try h.send("GET", "/css/site.css")
        #expect(css.header("Content-Type") == "text/css; charset=utf-8" && css.header("Cache-Control") == "no-cache")
        #expect(css.header("ETag") != nil && css.header("Last-Modified")?.hasSuffix(" GMT") == true)
        #expect(text(try h.send("GET", "/inner.txt")) == "0123456789", "a symlink inside the folder is followed")
        #expect(try h.send("GET", "/nothing.txt").status?.rawValue == 404)
        #expect(try h.send("GET", "/v1/nothing").errorType == "not_found", "API paths keep their JSON 404")
        #expect(try h.send("POST", "/index.html").status?.rawValue == 404)
        // (The connection drops a HEAD answer's body; the recorder keeps what the route sent.)
        let head = try h.send("HEAD", "/css/site.css")
        #expect(head.status?.rawValue == 200 && head.header("Content-Type") == "text/css; charset=utf-8")
        #expect(try h.send("GET", "/healthz").status?.rawValue == 200, "routes come first")
    }

    @Test func validatorsAnswer304() throws {
        let h = try harness()
        let first = try h.send("GET", "/digits.txt")
        let tag = try #require(first.header("ETag"))
        #expect(try h.send("GET", "/digits.txt", headers: [("If-None-Match", tag)]).status?.rawValue == 304)
        #expect(try h.send("GET", "/digits.txt", headers: [("If-None-Match", "\"other\", W/" + tag)]).status?.rawValue == 304)
        #expect(try h.send("GET", "/digits.txt", headers: [("If-None-Match", "\"other\"")]).status?.rawValue == 200)
        let modified = try #require(first.header("Last-Modified"))
        #expect(try h.send("GET", "/digits.txt", headers: [("If-Modified-Since", modified)]).status?.rawValue == 304)
        #expect(try h.send("GET", "/digits.txt", headers: [("If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT")]).status?.rawValue == 200)
        #expect(try h.send("GET", "/digits.txt", headers: [("If-Modified-Since", "yesterday")]).status?.rawValue == 200)
    }

    /// Files up to 1 MiB are kept in memory per loop; what comes back from memory is the file,
    /// whole or in ranges, and a file over the bound is read from disk each time. (Removed from
    /// disk, the kept one is still served within its second; the other is gone at once.)
    @Test func largeFilesFromMemoryAreTheFile() throws {
        var big = [UInt8](repeating: 0, count: 1 << 20)
        big.withUnsafeMutableBufferPointer { for i in $0.indices { $0[i] = UInt8(truncatingIfNeeded: i &* 31 &+ (i >> 8)) } }
        try Data(big).write(to: URL(fileURLWithPath: folder + "/big.bin"))
        try Data(big + [7]).write(to: URL(fileURLWithPath: folder + "/bigger.bin"))
        let h = try harness()
        // The checks after the removal must land within the kept second of this first read.
        #expect(try h.send("GET", "/big.bin").body == big)
        #expect(try h.send("GET", "/bigger.bin").body == big + [7])
        try FileManager.default.removeItem(atPath: folder + "/big.bin")
        try FileManager.default.removeItem(atPath: folder + "/bigger.bin")
        #expect(try h.send("GET", "/big.bin").body == big, "kept in memory")
        let part = try h.send("GET", "/big.bin", headers: [("Range", "bytes=1000000-1000009")])
        #expect(part.status?.rawValue == 206 && part.body == Array(big[1_000_000...1_000_009]))
        #expect(try h.send("GET", "/bigger.bin").status?.rawValue == 404, "over the bound: read from disk each time")
    }

    @Test func rangesAreOneOrWhole() throws {
        let h = try harness()
        let part = try h.send("GET", "/digits.txt", headers: [("Range", "bytes=2-4")])
        #expect(part.status?.rawValue == 206 && text(part) == "234" && part.header("Content-Range") == "bytes 2-4/10")
        #expect(text(try h.send("GET", "/digits.txt", headers: [("Range", "bytes=-3")])) == "789")
        #expect(text(try h.send("GET", "/digits.txt", headers: [("Range", "bytes=8-")])) == "89")
        #expect(text(try h.send("GET", "/digits.txt", headers: [("Range", "bytes=8-999999999999")])) == "89")
        let past = try h.send("GET", "/digits.txt", headers: [("Range", "bytes=10-")])
        #expect(past.status?.rawValue == 416 && past.header("Content-Range") == "bytes */10")
        for whole in ["bytes=0-1,3-4", "bytes=5-2", "items=0-1", "bytes=x-y", "bytes=99999999999999999999999-", "bytes=-"] {
            let r = try h.send("GET", "/digits.txt", headers: [("Range", whole)])
            #expect(r.status?.rawValue == 200 && text(r) == "0123456789", "\(whole)")
        }
        let tag = try #require(try h.send("GET", "/digits.txt").header("ETag"))
        #expect(try h.send("GET", "/digits.txt", headers: [("Range", "bytes=0-0"), ("If-Range", tag)]).status?.rawValue == 206)
        #expect(try h.send("GET", "/digits.txt", headers: [("Range", "bytes=0-0"), ("If-Range", "\"stale\"")]).status?.rawValue == 200)
    }

    @Test func precompressedSiblingsByAcceptEncoding() throws {
        let h = try harness()
        let br = try h.send("GET", "/app.js", headers: [("Accept-Encoding", "gzip, br")])
        #expect(text(br) == "BROTLI" && br.header("Content-Encoding") == "br" && br.header("Content-Type") == "text/javascript; charset=utf-8")
        let gz = try h.send("GET", "/app.js", headers: [("Accept-Encoding", "gzip;q=1, br;q=0")])
        #expect(text(gz) == "GZIP" && gz.header("Content-Encoding") == "gzip")
        let plain = try h.send("GET", "/app.js")
        #expect(text(plain) == "console.log(1)" && plain.header("Content-Encoding") == nil && plain.header("Vary") == "Accept-Encoding")
        #expect(br.header("ETag") != plain.header("ETag"))
    }

    @Test("nothing outside the folder is reachable", arguments: [
        "/../secret.txt", "/%2e%2e/secret.txt", "/css/%2e%2e/%2e%2e/secret.txt", "/%252e%252e/secret.txt", "/css/..%2fsecret.txt",
        "/css%2f..%2f..%2fsecret.txt", "/escape.txt", "/.env", "/css/.%2e/index.html", "/a%00b", "/..%5csecret.txt", "//etc/passwd",
        "/css//site.css", "/%c0%ae%c0%ae/secret.txt",
    ])
    func traversal(_ path: String) throws {
        let h = try harness()
        let r: HTTPResponseRecorder
        do { r = try h.send("GET", path) } catch {
            return // the HTTP codec itself refused the target (a NUL byte): nothing was served
        }
        #expect(r.status?.rawValue == 404 || r.status?.rawValue == 400, "\(path): \(String(describing: r.status))")
        #expect(!text(r).contains("top secret") && !text(r).contains("hidden"))
    }

    @Test func pureParts() {
        #expect(StaticPath.relative(rawPath: Array("/a/b%20c.txt".utf8))?.path == "a/b c.txt")
        #expect(StaticPath.relative(rawPath: Array("/".utf8))?.path == "")
        #expect(ByteRange.answer("bytes=0-0", size: 0) == .unsatisfiable)
        #expect(ByteRange.answer("bytes=-5", size: 3) == .partial(0...2))
        #expect(HTTPDate.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT") == nil)
        #expect(HTTPDate.parse("Sat, 31 Feb 2026 08:49:37 GMT") == nil, "a day the month does not have")
        #expect(HTTPDate.parse("Sun, 29 Feb 2032 00:00:00 GMT") != nil)
        for t: Int64 in [0, 1, 86_399, 951_782_400, 4_102_444_800] { #expect(HTTPDate.parse(HTTPDate.format(t)) == t) }
        #expect(MIMETypes.type(of: "a/b.SVG") == "image/svg+xml" && MIMETypes.type(of: "noext") == "application/octet-stream")
    }
}
