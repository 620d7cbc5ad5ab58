import Testing
@testable import Net

/// Drives the codec directly, both with the whole input at once and one byte at a time: the
/// outcome must not depend on how TCP splits the bytes.
struct ParsedRequest: Equatable {
    var method: String
    var target: String
    var path: String
    var query: String?
    var headers: [String]
    var body: String
    var keepAlive: Bool
}

enum Outcome: Equatable {
    case requests([ParsedRequest])
    /// Requests parsed before the error, then the error's status.
    case error([ParsedRequest], Int)
    /// Requests complete, then an unfinished one.
    case incomplete([ParsedRequest])
}

func parseAll(_ input: [UInt8], chunkSize: Int? = nil, limits: HTTPServerLimits = HTTPServerLimits()) -> Outcome {
    let parser = HTTPRequestParser(limits: limits)
    var requests: [ParsedRequest] = []
    var pending: [UInt8] = []
    var offset = 0
    while offset < input.count || !pending.isEmpty {
        if pending.isEmpty {
            let n = min(chunkSize ?? input.count, input.count - offset)
            pending = Array(input[offset..<offset + n])
            offset += n
        }
        let result = pending.withUnsafeBytes { parser.parse($0.baseAddress!, count: $0.count) }
        switch result {
        case .needMoreData:
            pending = []
        case .head(let consumed), .bodyPaused(let consumed):
            pending.removeFirst(consumed)
        case .request(let consumed):
            pending.removeFirst(consumed)
            let r = HTTPRequest(codec: parser)
            requests.append(ParsedRequest(method: r.method.description, target: r.target, path: r.rawPath, query: r.rawQuery,
                                          headers: r.headers.map { "\($0.name): \($0.value)" }, body: String(decoding: r.bodyBytes, as: UTF8.self), keepAlive: r.keepAlive))
        case .error(let e):
            return .error(requests, e.status.rawValue)
        }
    }
    return parser.isIdle ? .requests(requests) : .incomplete(requests)
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// (name, input, expected status of the first rejected request or 0 when all are accepted)
let rejectionTable: [(String, String, Int)] = [
    ("valid GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0),
    ("valid POST with length", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", 0),
    ("valid chunked", "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 0),
    ("HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", 0),
    ("CL and TE together", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("TE then CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400),
    ("two different CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    ("two equal CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400),
    ("CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\nabcd", 400),
    ("negative CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
    ("CL with plus", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", 400),
    ("TE gzip only", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    ("TE chunked then gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
    ("TE gzip, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    ("TE chunked twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400),
    ("TE in two lines", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    ("TE xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 400),
    ("TE on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400),
    ("obs-fold with tab", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n", 400),
    ("obs-fold after empty value", "GET / HTTP/1.1\r\nHost: a\r\nX-A:\r\n c\r\n\r\n", 400),
    ("obs-fold on Host", "GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", 400),
    ("bare CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", 400),
    ("bare CR line end", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
    ("NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\u{0}c\r\n\r\n", 400),
    ("NUL in name", "GET / HTTP/1.1\r\nHost: a\r\nX\u{0}A: b\r\n\r\n", 400),
    ("space before colon", "GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n", 400),
    ("missing Host on 1.1", "GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 400),
    ("two Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ("Host with slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    ("HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    ("garbage version", "GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400),
    ("unknown method", "BREW / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("lowercase method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 405),
    ("space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("bad percent escape", "GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("encoded NUL in path", "GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("asterisk on GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("bad chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400),
    ("unknown expectation", "POST / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx", 417),
    ("binary garbage", "\u{16}\u{3}\u{1}\u{0}\u{a5}\u{1}\u{0}\u{0}", 400),
    ("chunk data not followed by CRLF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n", 400),
    ("chunk size with junk", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3x\r\nabc\r\n0\r\n\r\n", 400),
    ("huge chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", 400),
    ("chunk extension accepted", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3 ;a=b\r\nabc\r\n0\r\n\r\n", 0),
    ("trailer with fold", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n", 400),
    ("header value with high bytes", "GET / HTTP/1.1\r\nHost: a\r\nX: caf\u{e9}\r\n\r\n", 0),
    ("DEL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\u{7f}b\r\n\r\n", 400),
    ("non-ASCII in target", "GET /caf\u{e9} HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("tab before colon", "GET / HTTP/1.1\r\nHost: a\r\nX\t: b\r\n\r\n", 400),
    ("leading space header", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    ("bare LF lines", "GET / HTTP/1.1\nHost: a\n\n", 0),
    ("HTTP/1.1 with extra digit", "GET / HTTP/1.11\r\nHost: a\r\n\r\n", 400),
    ("fuzz: old version with fold gives one verdict", "GET / HTTP/0.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400),
    ("empty request line", "\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0),
]

@Suite("HTTP/1.1 codec")
struct HTTPRequestParserTests {
    @Test("accepts or rejects each request as RFC 9112 requires", arguments: rejectionTable.indices)
    func table(_ i: Int) {
        let (name, input, status) = rejectionTable[i]
        for chunk in [nil, 1, 3] as [Int?] {
            let outcome = parseAll(bytes(input), chunkSize: chunk)
            if status == 0 {
                guard case .requests(let requests) = outcome, requests.count >= 1 else {
                    Issue.record("\(name) (chunk \(String(describing: chunk))): expected acceptance, got \(outcome)")
                    continue
                }
            } else {
                guard case .error(_, let got) = outcome else {
                    Issue.record("\(name) (chunk \(String(describing: chunk))): expected \(status), got \(outcome)")
                    continue
                }
                #expect(got == status, "\(name) (chunk \(String(describing: chunk)))")
            }
        }
    }

    @Test func pipelinedRequestsParseInOrderWithBodies() {
        let input = "GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
            + "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
            + "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n3;ext=1\r\ncde\r\n0\r\nTrailer: x\r\n\r\n"
            + "GET /d HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
        for chunk in [nil, 1, 2, 7] as [Int?] {
            guard case .requests(let r) = parseAll(bytes(input), chunkSize: chunk) else {
                Issue.record("chunk \(String(describing: chunk)) failed")
                continue
            }
            #expect(r.map(\.method) == ["GET", "POST", "PUT", "GET"])
            #expect(r.map(\.path) == ["/a", "/b", "/c", "/d"])
            #expect(r[0].query == "x=1")
            #expect(r[1].body == "hello")
            #expect(r[2].body == "abcde")
            #expect(r.map(\.keepAlive) == [true, true, true, false])
        }
    }

    @Test func keepAliveRules() {
        let cases: [(String, Bool)] = [
            ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", true),
            ("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false),
            ("GET / HTTP/1.0\r\n\r\n", false),
            ("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
            ("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
        ]
        for (input, expected) in cases {
            guard case .requests(let r) = parseAll(bytes(input)) else { Issue.record("\(input)"); continue }
            #expect(r[0].keepAlive == expected, "\(input)")
        }
    }

    @Test func absoluteFormAndQuery() {
        guard case .requests(let r) = parseAll(bytes("GET http://example.com:8080/v1/x?y=%20z#frag HTTP/1.1\r\nHost: example.com:8080\r\n\r\n")) else {
            Issue.record("rejected")
            return
        }
        #expect(r[0].path == "/v1/x")
        #expect(r[0].query == "y=%20z")
    }

    @Test func headLimitGives431AndLongTargetGives414() {
        var limits = HTTPServerLimits()
        limits.maxHeadBytes = 1024
        let bigHeader = "GET / HTTP/1.1\r\nHost: a\r\nX-Big: \(String(repeating: "a", count: 2000))\r\n\r\n"
        #expect(parseAll(bytes(bigHeader), limits: limits) == .error([], 431))
        #expect(parseAll(bytes(bigHeader), chunkSize: 100, limits: limits) == .error([], 431))
        let longTarget = "GET /\(String(repeating: "a", count: 2000)) HTTP/1.1\r\nHost: a\r\n\r\n"
        #expect(parseAll(bytes(longTarget), limits: limits) == .error([], 414))
        var manyHeaders = "GET / HTTP/1.1\r\nHost: a\r\n"
        for i in 0..<150 { manyHeaders += "X-\(i): v\r\n" }
        manyHeaders += "\r\n"
        #expect(parseAll(bytes(manyHeaders)) == .error([], 431))
    }

    @Test func bodyLimitGives413ForLengthAndChunked() {
        var limits = HTTPServerLimits()
        limits.maxBodyBytes = 10
        #expect(parseAll(bytes("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n"), limits: limits) == .error([], 413))
        let chunked = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n"
        #expect(parseAll(bytes(chunked), limits: limits) == .error([], 413))
        #expect(parseAll(bytes("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789"), limits: limits) != .error([], 413))
    }

    @Test func expectContinueIsReportedUntilTheBodyArrives() {
        let parser = HTTPRequestParser()
        let head = bytes("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        let r1 = head.withUnsafeBytes { parser.parse($0.baseAddress!, count: $0.count) }
        guard case .needMoreData = r1 else { Issue.record("\(r1)"); return }
        #expect(parser.expectsContinue)
        let body = bytes("abc")
        let r2 = body.withUnsafeBytes { parser.parse($0.baseAddress!, count: $0.count) }
        guard case .request = r2 else { Issue.record("\(r2)"); return }
        #expect(!parser.expectsContinue)
    }

    @Test func percentDecoding() {
        func decode(_ s: String, plus: Bool = false) -> String? {
            bytes(s).withUnsafeBytes { PercentDecoding.decode($0, plusAsSpace: plus) }
        }
        #expect(decode("a%20b") == "a b")
        #expect(decode("a+b", plus: true) == "a b")
        #expect(decode("a+b") == "a+b")
        #expect(decode("%E2%82%AC") == "€")
        #expect(decode("%zz") == nil)
        #expect(decode("%C3") == nil) // truncated UTF-8
        #expect(decode("%4") == nil)
    }
}
