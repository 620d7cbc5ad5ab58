import CHTTPParser
#if canImport(Glibc)
import Glibc
#endif

/// The HTTP/1.1 request codec: Debian's http_parser (strict mode) for the grammar, with the
/// framing and smuggling rules of RFC 9112 that http_parser is lenient on enforced on top of it
/// (obs-fold, Transfer-Encoding lists, Host, HTTP/1.0 with Transfer-Encoding, versions).
///
/// It knows nothing of sockets so that the fuzzer drives exactly the code the server runs. It
/// stops after each complete request (`.request`); the caller answers it and then feeds the
/// rest. The request's bytes stay valid until the next `parse` call, so a handler may answer
/// later without copying the request.
public final class HTTPRequestParser {
    public enum Result {
        /// Every byte was consumed; the request is not complete yet.
        case needMoreData
        /// A request is complete after `consumed` bytes; the rest belongs to the next request.
        /// For a request whose body streams, this is the end of that body.
        case request(consumed: Int)
        /// The head of a request whose body streams (`streamedBodyLimit`) is complete after
        /// `consumed` bytes: answer it now; its body is parsed once a sink is attached.
        case head(consumed: Int)
        /// The body sink asked for a pause after `consumed` bytes (see `HTTPBodySink`).
        case bodyPaused(consumed: Int)
        /// The request is malformed or over a limit: answer `error.status` and close.
        case error(HTTPParseError)
    }

    @usableFromInline struct HeaderSlot {
        var nameStart: Int32
        var nameLength: Int32
        var valueStart: Int32
        var valueLength: Int32
    }

    enum LastCallback: UInt8 { case none, url, field, value }

    public let limits: HTTPServerLimits
    /// The lowercased name of the header that carries a client's request id (empty: none).
    let requestIDName: [UInt8]
    @usableFromInline let parser: UnsafeMutablePointer<http_parser>
    /// The request target followed by every header name and value, back to back.
    @usableFromInline var head = ByteBuffer(capacity: 0)
    @usableFromInline var body = ByteBuffer(capacity: 0)
    @usableFromInline var slots: [HeaderSlot] = []
    @usableFromInline var targetLength = 0
    var headAccounted = 0
    var last = LastCallback.none
    var failure: HTTPParseError?

    /// Strict re-check of the framing http_parser (built non-strict by Debian) accepted.
    var validator = HTTPFramingValidator()
    var inHead = false

    // What the head said, decided once at headers-complete.
    @usableFromInline var pathStart = 0, pathEnd = 0, queryStart = -1, queryEnd = -1
    @usableFromInline var requestIdSlot = -1
    public private(set) var method = HTTPMethod.get
    public private(set) var versionMinor: UInt16 = 1
    public private(set) var keepAlive = true
    /// The request carries `Expect: 100-continue` and its body has not arrived yet.
    public private(set) var expectsContinue = false
    /// The request announced a body (Content-Length > 0 or chunked).
    public private(set) var hasBody = false
    var messageComplete = false

    /// Asked once per request with a body, when its head is complete: the most bytes the
    /// handler reads as a stream, or nil to have the body buffered whole (within
    /// `limits.maxBodyBytes`). Set by the server from `HTTPHandler.streamedBodyLimit`.
    var streamedBodyLimit: ((HTTPRequest) -> Int?)?
    /// The current request's body streams to `bodySink` instead of being buffered.
    public private(set) var streamsBody = false
    /// Where a streaming body's bytes go; nil until the handler attaches one.
    var bodySink: (any HTTPBodySink)?
    var streamLimit = 0
    var streamedBytes = 0
    /// Why http_parser is paused: the end of a streaming request's head, or a sink's pause.
    enum Pause: UInt8 { case none, head, body }
    var pause = Pause.none

    public init(limits: HTTPServerLimits = HTTPServerLimits(), requestIDHeader: String = "X-Request-Id") {
        self.limits = limits
        self.requestIDName = Array(requestIDHeader.lowercased().utf8)
        parser = .allocate(capacity: 1)
        http_parser_init(parser, HTTP_REQUEST)
        parser.pointee.data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        parser.deallocate()
    }

    /// Between two requests: nothing of a request has been read yet.
    public var isIdle: Bool { !inHead && !inBody }

    /// Headers of the current request are complete and its body is being read.
    public private(set) var inBody = false

    /// Consumes bytes until a request completes, more data is needed, or the input is invalid.
    public func parse(_ bytes: UnsafeRawPointer, count: Int) -> Result {
        if let failure { return .error(failure) }
        if count == 0 { return .needMoreData }
        let consumed = bytes.withMemoryRebound(to: CChar.self, capacity: count) {
            http_parser_execute(parser, &Self.settings, $0, count)
        }
        let errno = chttp_errno(parser)
        // Whatever http_parser consumed is checked strictly before anything is handed on. A
        // violation here concerns bytes before any error a callback raised at the end of them,
        // so it wins: the verdict must not depend on how TCP split the input.
        if !validator.feed(bytes, consumed) {
            failure = HTTPParseError(.badRequest, validator.failure!)
            return .error(failure!)
        }
        if errno == HPE_PAUSED {
            http_parser_pause(parser, 0)
            if let failure { return .error(failure) }
            let why = pause
            pause = .none
            switch why {
            case .head: return .head(consumed: consumed)
            case .body: return .bodyPaused(consumed: consumed)
            case .none: return .request(consumed: consumed)
            }
        }
        if let failure { return .error(failure) }
        if errno != HPE_OK { return fail(Self.mapError(errno)) }
        if consumed != count { return fail(HTTPParseError(.badRequest, "malformed request")) }
        return .needMoreData
    }

    @discardableResult
    func fail(_ error: HTTPParseError) -> Result {
        if failure == nil { failure = error }
        return .error(failure!)
    }

    static func mapError(_ errno: http_errno) -> HTTPParseError {
        switch errno {
        case HPE_HEADER_OVERFLOW: return .headersTooLarge
        case HPE_INVALID_VERSION: return HTTPParseError(.badRequest, "invalid HTTP version")
        case HPE_INVALID_METHOD: return HTTPParseError(.badRequest, "invalid method")
        case HPE_INVALID_URL: return .invalidTarget
        case HPE_INVALID_HEADER_TOKEN: return HTTPParseError(.badRequest, "invalid character in a header field")
        case HPE_INVALID_CONTENT_LENGTH: return .invalidLength
        case HPE_UNEXPECTED_CONTENT_LENGTH: return .duplicateLength
        case HPE_INVALID_CHUNK_SIZE: return HTTPParseError(.badRequest, "invalid chunk size")
        case HPE_INVALID_TRANSFER_ENCODING: return .chunkedNotFinal
        case HPE_LF_EXPECTED, HPE_STRICT: return HTTPParseError(.badRequest, "malformed line ending or bare CR")
        case HPE_INVALID_CONSTANT: return HTTPParseError(.badRequest, "malformed request line")
        default: return HTTPParseError(.badRequest, "malformed request")
        }
    }

    // MARK: - Callbacks

    @inline(__always)
    static func from(_ p: UnsafeMutablePointer<http_parser>?) -> HTTPRequestParser {
        Unmanaged<HTTPRequestParser>.fromOpaque(p!.pointee.data).takeUnretainedValue()
    }

    // Built once (Swift's lazy globals are initialised under a once-lock) and never written
    // again; `var` only because http_parser_execute takes a pointer to it.
    nonisolated(unsafe) static var settings: http_parser_settings = {
        var s = http_parser_settings()
        s.on_message_begin = { p in HTTPRequestParser.from(p).onMessageBegin() }
        s.on_url = { p, at, len in HTTPRequestParser.from(p).onURL(UnsafeRawPointer(at!), len) }
        s.on_header_field = { p, at, len in HTTPRequestParser.from(p).onHeaderField(UnsafeRawPointer(at!), len) }
        s.on_header_value = { p, at, len in HTTPRequestParser.from(p).onHeaderValue(UnsafeRawPointer(at!), len) }
        s.on_headers_complete = { p in HTTPRequestParser.from(p).onHeadersComplete() }
        s.on_body = { p, at, len in HTTPRequestParser.from(p).onBody(UnsafeRawPointer(at!), len) }
        s.on_message_complete = { p in HTTPRequestParser.from(p).onMessageComplete() }
        return s
    }()

    /// Frees buffers grown past 64 KiB by a large request.
    func releaseLargeBuffers() {
        if body.allocatedBytes > 64 * 1024 { body.clear(); body.shrinkIfEmpty(above: 64 * 1024) }
        if head.allocatedBytes > 64 * 1024 { head.clear(); head.shrinkIfEmpty(above: 64 * 1024) }
    }

    func onMessageBegin() -> Int32 {
        head.clear()
        body.clear()
        slots.removeAll(keepingCapacity: true)
        targetLength = 0
        headAccounted = 0
        last = .none
        inHead = true
        inBody = false
        requestIdSlot = -1
        expectsContinue = false
        hasBody = false
        messageComplete = false
        streamsBody = false
        bodySink = nil
        pause = .none
        return 0
    }

    @inline(__always)
    func account(_ count: Int) -> Bool {
        headAccounted += count
        return headAccounted <= limits.maxHeadBytes
    }

    func onURL(_ at: UnsafeRawPointer, _ len: Int) -> Int32 {
        targetLength += len
        guard account(len) else { fail(targetLength >= limits.maxHeadBytes ? .uriTooLong : .headersTooLarge); return 1 }
        head.writeBytes(at, count: len)
        last = .url
        return 0
    }

    func onHeaderField(_ at: UnsafeRawPointer, _ len: Int) -> Int32 {
        if last != .field {
            guard slots.count < limits.maxHeaderCount else { fail(.tooManyHeaders); return 1 }
            // ": " and CRLF count against the limit as they do on the wire.
            guard account(4) else { fail(.headersTooLarge); return 1 }
            slots.append(HeaderSlot(nameStart: Int32(head.writerIndex), nameLength: 0, valueStart: Int32(head.writerIndex), valueLength: 0))
            last = .field
        }
        guard account(len) else { fail(.headersTooLarge); return 1 }
        head.writeBytes(at, count: len)
        slots[slots.count - 1].nameLength += Int32(len)
        slots[slots.count - 1].valueStart = Int32(head.writerIndex)
        return 0
    }

    func onHeaderValue(_ at: UnsafeRawPointer, _ len: Int) -> Int32 {
        last = .value
        guard account(len) else { fail(.headersTooLarge); return 1 }
        head.writeBytes(at, count: len)
        slots[slots.count - 1].valueLength += Int32(len)
        return 0
    }

    func onHeadersComplete() -> Int32 {
        inHead = false
        let p = parser.pointee
        if p.http_major != 1 { fail(.versionNotSupported); return -1 }
        versionMinor = p.http_minor
        method = HTTPMethod(rawValue: UInt8(truncatingIfNeeded: chttp_method(parser)))
        if method == .connect { fail(.connectNotAllowed); return -1 }
        if let error = validateHeaders() { fail(error); return -1 }
        if let error = splitTarget() { fail(error); return -1 }
        // This gateway never switches protocols: an Upgrade header is ignored and the
        // connection stays HTTP/1.1.
        parser.pointee.upgrade = 0
        let contentLength = p.content_length
        let chunked = (UInt32(p.flags) & F_CHUNKED.rawValue) != 0
        hasBody = chunked || (contentLength > 0 && contentLength != UInt64.max)
        if !hasBody { expectsContinue = false }
        inBody = hasBody
        validator.chunked = chunked
        validator.contentLength = chunked ? 0 : contentLength
        if hasBody, let decide = streamedBodyLimit, let limit = decide(HTTPRequest(codec: self)) {
            if !chunked && contentLength > UInt64(limit) { fail(.bodyTooLarge); return -1 }
            streamsBody = true
            streamLimit = limit
            streamedBytes = 0
            // The handler answers the head first (authentication, then attaching a sink);
            // the body waits in the connection meanwhile, unread.
            pause = .head
            http_parser_pause(parser, 1)
            return 0
        }
        if hasBody && !chunked && contentLength > UInt64(limits.maxBodyBytes) { fail(.bodyTooLarge); return -1 }
        return 0
    }

    func onBody(_ at: UnsafeRawPointer, _ len: Int) -> Int32 {
        expectsContinue = false
        if streamsBody {
            streamedBytes += len
            guard streamedBytes <= streamLimit else { fail(.bodyTooLarge); return 1 }
            guard let sink = bodySink else {
                // The handler answered before the body ended: nothing more is parsed.
                pause = .body
                http_parser_pause(parser, 1)
                return 0
            }
            if !sink.bodyBytes(UnsafeRawBufferPointer(start: at, count: len)) {
                pause = .body
                http_parser_pause(parser, 1)
            }
            return 0
        }
        guard body.readableBytes + len <= limits.maxBodyBytes else { fail(.bodyTooLarge); return 1 }
        body.writeBytes(at, count: len)
        return 0
    }

    func onMessageComplete() -> Int32 {
        inBody = false
        inHead = false
        expectsContinue = false
        messageComplete = true
        keepAlive = http_should_keep_alive(parser) != 0
        pause = .none
        http_parser_pause(parser, 1)
        return 0
    }

    // MARK: - Validation on top of http_parser

    @inline(__always)
    static func lower(_ c: UInt8) -> UInt8 { (c >= 65 && c <= 90) ? c | 0x20 : c }

    /// Case-insensitive comparison of `length` bytes at `p` with a lowercase ASCII literal.
    @inline(__always)
    static func equalsLowercase(_ p: UnsafeRawPointer, _ length: Int, _ literal: StaticString) -> Bool {
        guard length == literal.utf8CodeUnitCount else { return false }
        let l = literal.utf8Start
        for i in 0..<length where lower(p.load(fromByteOffset: i, as: UInt8.self)) != l[i] { return false }
        return true
    }


    @inline(__always)
    static func equalsLowercase(_ p: UnsafeRawPointer, _ length: Int, _ lowercased: UnsafeBufferPointer<UInt8>) -> Bool {
        guard length == lowercased.count else { return false }
        for i in 0..<length where lower(p.load(fromByteOffset: i, as: UInt8.self)) != lowercased[i] { return false }
        return true
    }

    func validateHeaders() -> HTTPParseError? {
        var hostCount = 0
        var lengthCount = 0
        var encodingSeen = false
        var expectSlot = -1
        let base = head.readablePointer
        for i in 0..<slots.count {
            let s = slots[i]
            let name = base + Int(s.nameStart)
            let n = Int(s.nameLength)
            if n == requestIDName.count && n > 0 && requestIDName.withUnsafeBufferPointer({ Self.equalsLowercase(name, n, $0) }) {
                requestIdSlot = i
                continue
            }
            switch n {
            case 4 where Self.equalsLowercase(name, n, "host"):
                hostCount += 1
                if !Self.isValidHost(base + Int(s.valueStart), Int(s.valueLength)) { return .invalidHost }
            case 6 where Self.equalsLowercase(name, n, "expect"):
                expectSlot = i
            case 14 where Self.equalsLowercase(name, n, "content-length"):
                lengthCount += 1
            case 17 where Self.equalsLowercase(name, n, "transfer-encoding"):
                encodingSeen = true
            default:
                break
            }
        }
        if lengthCount > 1 { return .duplicateLength }
        if versionMinor >= 1 {
            if hostCount != 1 { return .missingHost }
        } else if hostCount > 1 {
            return .missingHost
        }
        if encodingSeen {
            if versionMinor == 0 { return .encodingOnHTTP10 }
            if lengthCount > 0 { return .bothLengthAndEncoding }
            if let error = validateTransferCodings() { return error }
        }
        if expectSlot >= 0 {
            let s = slots[expectSlot]
            if Self.equalsLowercase(base + Int(s.valueStart), Int(s.valueLength), "100-continue") {
                expectsContinue = versionMinor >= 1
            } else {
                return .expectationFailed
            }
        }
        return nil
    }

    /// Every Transfer-Encoding line, read as one comma-separated list: it must end with exactly
    /// one `chunked`; any other coding is one this server does not implement.
    func validateTransferCodings() -> HTTPParseError? {
        let base = head.readablePointer
        var codings: [(Int, Int)] = []
        for s in slots where Self.equalsLowercase(base + Int(s.nameStart), Int(s.nameLength), "transfer-encoding") {
            var i = Int(s.valueStart)
            let end = i + Int(s.valueLength)
            while i <= end {
                var j = i
                while j < end && base.load(fromByteOffset: j, as: UInt8.self) != 0x2C { j += 1 }
                var a = i, b = j
                while a < b, Self.isWhitespace(base.load(fromByteOffset: a, as: UInt8.self)) { a += 1 }
                while b > a, Self.isWhitespace(base.load(fromByteOffset: b - 1, as: UInt8.self)) { b -= 1 }
                codings.append((a, b - a))
                i = j + 1
            }
        }
        guard let final = codings.last, Self.equalsLowercase(base + final.0, final.1, "chunked") else {
            return .chunkedNotFinal
        }
        let others = codings.dropLast()
        for c in others where c.1 == 0 || Self.equalsLowercase(base + c.0, c.1, "chunked") {
            return .chunkedNotFinal
        }
        return others.isEmpty ? nil : .unknownCoding
    }

    @inline(__always) static func isWhitespace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 }

    /// uri-host [ ":" port ] (RFC 9110 §7.2): reg-name, IPv4 or a bracketed IPv6 literal.
    static func isValidHost(_ p: UnsafeRawPointer, _ n: Int) -> Bool {
        if n == 0 { return true }
        if n > 255 { return false }
        var i = 0
        if p.load(as: UInt8.self) == 0x5B { // '['
            while i < n && p.load(fromByteOffset: i, as: UInt8.self) != 0x5D { i += 1 }
            if i == n { return false }
            i += 1
        } else {
            while i < n {
                let c = p.load(fromByteOffset: i, as: UInt8.self)
                if c == 0x3A { break }
                let ok = (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39)
                    || c == 0x2D || c == 0x2E || c == 0x5F || c == 0x7E || c == 0x25
                    || c == 0x21 || c == 0x24 || c == 0x26 || c == 0x27 || c == 0x28 || c == 0x29
                    || c == 0x2A || c == 0x2B || c == 0x2C || c == 0x3B || c == 0x3D
                if !ok { return false }
                i += 1
            }
        }
        if i < n {
            guard p.load(fromByteOffset: i, as: UInt8.self) == 0x3A else { return false }
            i += 1
            if n - i > 5 { return false }
            while i < n {
                let c = p.load(fromByteOffset: i, as: UInt8.self)
                if c < 0x30 || c > 0x39 { return false }
                i += 1
            }
        }
        return true
    }

    /// Finds the path and query in the request target: origin-form ("/p?q"), absolute-form
    /// ("http://h/p?q") or asterisk-form ("*", OPTIONS only). Fragments are not part of a target.
    func splitTarget() -> HTTPParseError? {
        let base = head.readablePointer
        let n = targetLength
        guard n > 0 else { return .invalidTarget }
        var start = 0
        let first = base.load(as: UInt8.self)
        if first == 0x2A {
            guard n == 1, method == .options else { return .invalidTarget }
            pathStart = 0; pathEnd = 1; queryStart = -1; queryEnd = -1
            return nil
        }
        if first != 0x2F {
            // absolute-form: scheme "://" authority, then the path.
            var i = 0
            while i + 2 < n {
                if base.load(fromByteOffset: i, as: UInt8.self) == 0x3A
                    && base.load(fromByteOffset: i + 1, as: UInt8.self) == 0x2F
                    && base.load(fromByteOffset: i + 2, as: UInt8.self) == 0x2F { break }
                i += 1
            }
            guard i + 2 < n else { return .invalidTarget }
            i += 3
            while i < n {
                let c = base.load(fromByteOffset: i, as: UInt8.self)
                if c == 0x2F || c == 0x3F { break }
                i += 1
            }
            start = i
        }
        var end = start
        while end < n {
            let c = base.load(fromByteOffset: end, as: UInt8.self)
            if c == 0x3F || c == 0x23 { break }
            end += 1
        }
        pathStart = start
        pathEnd = end
        queryStart = -1
        queryEnd = -1
        if end < n && base.load(fromByteOffset: end, as: UInt8.self) == 0x3F {
            var q = end + 1
            while q < n && base.load(fromByteOffset: q, as: UInt8.self) != 0x23 { q += 1 }
            queryStart = end + 1
            queryEnd = q
        }
        if !PercentDecoding.isValid(UnsafeRawBufferPointer(start: base + pathStart, count: pathEnd - pathStart), rejectNUL: true) {
            return HTTPParseError(.badRequest, "invalid percent-encoding in the path")
        }
        return nil
    }
}
