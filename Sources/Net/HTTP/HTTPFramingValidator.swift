/// A strict RFC 9112 check of the bytes http_parser has consumed, run in lockstep with it.
///
/// Debian builds http_parser with HTTP_PARSER_STRICT=0, which accepts whitespace before a
/// header colon, any "HTTP/" look-alike, obs-fold, and any two bytes in place of the CRLF after
/// chunk data — each a request-smuggling vector when another server reads the bytes strictly.
/// This state machine re-reads the request line, the header and trailer lines and the chunk
/// framing, and rejects what RFC 9112 says a server must reject. It accepts bare LF as a line
/// end exactly where http_parser does, so both agree on where every message ends.
struct HTTPFramingValidator {
    enum State: UInt8 {
        case lineStart, method, target, version, requestLineLF
        case fieldStart, fieldName, fieldValue, fieldLF, headEndLF
        case bodyLength
        case chunkSize, chunkSizeWhitespace, chunkExtension, chunkSizeLF, chunkData, chunkDataCR, chunkDataLF
        case done
    }

    var state = State.lineStart
    var versionIndex = 0
    var count = 0
    var remaining: UInt64 = 0
    var chunkDigits = 0
    var inTrailer = false
    var failure: StaticString?

    /// Framing of the current message, set by the codec at headers-complete.
    var chunked = false
    var contentLength: UInt64 = 0

    static let version: [UInt8] = Array("HTTP/".utf8)

    /// RFC 9110 tchar.
    @inline(__always)
    static func isToken(_ c: UInt8) -> Bool {
        switch c {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: return true
        default: return false
        }
    }

    @inline(__always)
    static func isFieldValueByte(_ c: UInt8) -> Bool {
        c == 0x09 || (c >= 0x20 && c != 0x7F)
    }

    @inline(__always)
    static func hexValue(_ c: UInt8) -> UInt64? {
        switch c {
        case 0x30...0x39: return UInt64(c - 0x30)
        case 0x41...0x46: return UInt64(c - 0x41 + 10)
        case 0x61...0x66: return UInt64(c - 0x61 + 10)
        default: return nil
        }
    }

    /// Called when the message's head ends.
    mutating func headEnded() {
        if chunked {
            state = .chunkSize
            remaining = 0
            chunkDigits = 0
        } else if contentLength > 0 && contentLength != UInt64.max {
            state = .bodyLength
            remaining = contentLength
        } else {
            state = .done
        }
    }

    /// Checks `n` bytes; false (with `failure` set) at the first violation.
    mutating func feed(_ p: UnsafeRawPointer, _ n: Int) -> Bool {
        var i = 0
        while i < n {
            let c = p.load(fromByteOffset: i, as: UInt8.self)
            switch state {
            case .done:
                // A new message begins.
                state = .lineStart
                inTrailer = false
                continue
            case .lineStart:
                if c == 0x0D || c == 0x0A { break } // empty lines before a request line are ignored
                guard Self.isToken(c) else { return fail("invalid method") }
                state = .method
            case .method:
                if c == 0x20 { state = .target; count = 0; break }
                guard Self.isToken(c) else { return fail("invalid method") }
            case .target:
                if c == 0x20 {
                    guard count > 0 else { return fail("empty request target") }
                    state = .version
                    versionIndex = 0
                    break
                }
                guard c > 0x20 && c < 0x7F else { return fail("invalid character in the request target") }
                count += 1
            case .version:
                switch versionIndex {
                case 0..<5:
                    guard c == Self.version[versionIndex] else { return fail("invalid HTTP version") }
                case 5, 7:
                    guard c >= 0x30 && c <= 0x39 else { return fail("invalid HTTP version") }
                case 6:
                    guard c == 0x2E else { return fail("invalid HTTP version") }
                default:
                    if c == 0x0D { state = .requestLineLF; break }
                    if c == 0x0A { state = .fieldStart; break }
                    return fail("invalid request line")
                }
                versionIndex += 1
            case .requestLineLF, .fieldLF:
                guard c == 0x0A else { return fail("bare CR") }
                state = .fieldStart
            case .fieldStart:
                if c == 0x0D { state = .headEndLF; break }
                if c == 0x0A { endOfFields(); break }
                if c == 0x20 || c == 0x09 { return fail("obsolete line folding is not accepted") }
                guard Self.isToken(c) else { return fail("invalid header field name") }
                state = .fieldName
            case .fieldName:
                if c == 0x3A { state = .fieldValue; break }
                guard Self.isToken(c) else {
                    return fail(c == 0x20 || c == 0x09 ? "whitespace before a header colon" : "invalid header field name")
                }
            case .fieldValue:
                // The common case: a run of ordinary bytes.
                var j = i
                while j < n {
                    let d = p.load(fromByteOffset: j, as: UInt8.self)
                    if d < 0x20 || d == 0x7F { break }
                    j += 1
                }
                i = j
                if i == n { return true }
                let d = p.load(fromByteOffset: i, as: UInt8.self)
                if d == 0x0D { state = .fieldLF } else if d == 0x0A { state = .fieldStart } else if d != 0x09 {
                    return fail(d == 0 ? "NUL in a header field" : "control character in a header field")
                }
            case .headEndLF:
                guard c == 0x0A else { return fail("bare CR") }
                endOfFields()
            case .bodyLength:
                let take = min(UInt64(n - i), remaining)
                remaining -= take
                i += Int(take)
                if remaining == 0 { state = .done }
                continue
            case .chunkSize:
                if let v = Self.hexValue(c) {
                    chunkDigits += 1
                    guard chunkDigits <= 15 else { return fail("chunk size too large") }
                    remaining = remaining << 4 | v
                    break
                }
                guard chunkDigits > 0 else { return fail("invalid chunk size") }
                if c == 0x0D { state = .chunkSizeLF } else if c == 0x0A { chunkSizeEnded() } else if c == 0x3B { state = .chunkExtension } else if c == 0x20 || c == 0x09 { state = .chunkSizeWhitespace } else {
                    return fail("invalid chunk size")
                }
            case .chunkSizeWhitespace:
                if c == 0x20 || c == 0x09 { break }
                if c == 0x3B { state = .chunkExtension; break }
                if c == 0x0D { state = .chunkSizeLF; break }
                return fail("invalid chunk size line")
            case .chunkExtension:
                if c == 0x0D { state = .chunkSizeLF; break }
                if c == 0x0A { chunkSizeEnded(); break }
                guard Self.isFieldValueByte(c) else { return fail("control character in a chunk extension") }
            case .chunkSizeLF:
                guard c == 0x0A else { return fail("bare CR") }
                chunkSizeEnded()
            case .chunkData:
                let take = min(UInt64(n - i), remaining)
                remaining -= take
                i += Int(take)
                if remaining == 0 { state = .chunkDataCR }
                continue
            case .chunkDataCR:
                if c == 0x0A { state = .chunkSize; remaining = 0; chunkDigits = 0; break }
                guard c == 0x0D else { return fail("chunk data is not followed by CRLF") }
                state = .chunkDataLF
            case .chunkDataLF:
                guard c == 0x0A else { return fail("chunk data is not followed by CRLF") }
                state = .chunkSize
                remaining = 0
                chunkDigits = 0
            }
            i += 1
        }
        return true
    }

    mutating func endOfFields() {
        if inTrailer { state = .done } else { headEnded() }
    }

    mutating func chunkSizeEnded() {
        if remaining == 0 {
            inTrailer = true
            state = .fieldStart
        } else {
            state = .chunkData
        }
    }

    mutating func fail(_ reason: StaticString) -> Bool {
        failure = reason
        return false
    }
}
