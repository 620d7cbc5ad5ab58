#if canImport(Net)
import Net
#endif
#if canImport(Glibc)
import Glibc
#endif

/// `multipart/form-data` (RFC 7578 over RFC 2046's multipart grammar) as a pure push parser:
/// bytes in as they arrive from the socket, parts out — headers once, then the part's data in
/// as many pieces as it came, never gathered — so a 200 MB upload passes through in constant
/// memory. It knows nothing of sockets or files, and `Fuzz/MultipartFuzzer.swift` drives
/// exactly this code, whole and split at arbitrary points.
///
/// Why not vapor/multipart-kit (4.7.1, the mirror's version): it buffers each part header's
/// name and value without a bound (a header of the body's whole size is held in memory before
/// anything can refuse it), counts no parts, and takes NIO's ByteBuffer, which would bring
/// SwiftNIO into a build that has one buffer type already. Here a part's header block is
/// bounded (`maximumHeaderBytes`), so are the parts (`maximumParts`), and the body's delimiter
/// search is `memchr` for CR then one compare, not a state change per byte.
///
/// The grammar kept: an optional preamble, then `--boundary` lines; after a delimiter either
/// `--` (the close delimiter; anything after it is epilogue, ignored) or optional linear
/// whitespace and CRLF, then header lines up to an empty line, then data up to the next
/// `CRLF--boundary`. A body that ends before the close delimiter is an error (`finish`).
struct MultipartFormParser {
    struct Failure: Error, Equatable, CustomStringConvertible {
        let description: String
    }

    /// A part's headers, as far as form data uses them.
    struct PartHead: Equatable {
        /// `Content-Disposition`'s `name`.
        var name: String?
        /// `Content-Disposition`'s `filename` (or `filename*`, RFC 5987, when given).
        var filename: String?
        var contentType: String?
    }

    enum Event {
        case partBegan(PartHead)
        /// Data of the current part; valid only during the callback.
        case data(UnsafeRawBufferPointer)
        case partEnded
    }

    enum State: Equatable {
        case preamble
        /// After a delimiter: `--` ends the body, LWSP* CRLF starts a part's headers.
        case afterDelimiter(dashes: Int, sawCR: Bool)
        case headers
        case body
        case epilogue
        case failed
    }

    let delimiter: [UInt8]
    let maximumParts: Int
    let maximumHeaderBytes: Int
    private(set) var state = State.preamble
    private(set) var parts = 0
    /// Bytes held back because they may begin a delimiter (at most the delimiter's length), or
    /// the header block being read.
    private var held: [UInt8] = []

    /// `boundary` from the Content-Type's parameter (`boundary(fromContentType:)`).
    init(boundary: String, maximumParts: Int = 100, maximumHeaderBytes: Int = 8 * 1024) {
        // The body's first delimiter may come without the CRLF before it: starting as if one
        // had been seen makes the preamble search the same as every other.
        delimiter = Array("\r\n--\(boundary)".utf8)
        self.maximumParts = maximumParts
        self.maximumHeaderBytes = maximumHeaderBytes
        held = [0x0D, 0x0A]
    }

    /// The `boundary` parameter of a `multipart/form-data` Content-Type, or why there is none.
    static func boundary(fromContentType value: String) -> Result<String, Failure> {
        let pieces = value.split(separator: ";", omittingEmptySubsequences: false).map { $0.trimmingSpaces() }
        guard let type = pieces.first, type.lowercased() == "multipart/form-data" else {
            return .failure(Failure(description: "the content type is not multipart/form-data"))
        }
        var found: String?
        for piece in pieces.dropFirst() {
            guard let eq = piece.firstIndex(of: "=") else { continue }
            guard piece[..<eq].trimmingSpaces().lowercased() == "boundary" else { continue }
            guard found == nil else { return .failure(Failure(description: "the boundary parameter is repeated")) }
            var v = piece[piece.index(after: eq)...].trimmingSpaces()
            if v.hasPrefix("\"") {
                guard v.count >= 2, v.hasSuffix("\"") else { return .failure(Failure(description: "the boundary's quotes do not close")) }
                v = String(v.dropFirst().dropLast())
            }
            found = v
        }
        guard let boundary = found else { return .failure(Failure(description: "multipart/form-data needs a boundary parameter")) }
        // RFC 2046: 1-70 characters of bchars, not ending in a space.
        let allowed = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? ".utf8)
        guard (1...70).contains(boundary.utf8.count), boundary.utf8.allSatisfy(allowed.contains), !boundary.hasSuffix(" ") else {
            return .failure(Failure(description: "the boundary must be 1-70 letters, digits or '()+_,-./:=? and not end in a space"))
        }
        return .success(boundary)
    }

    /// Feeds the next bytes; `emit` sees the events they complete, in order.
    mutating func feed(_ input: UnsafeRawBufferPointer, _ emit: (Event) throws(Failure) -> Void) throws(Failure) {
        guard state != .failed else { throw Failure(description: "the multipart body is malformed") }
        do throws(Failure) {
            if held.isEmpty || state == .headers {
                try run(input, emit)
            } else {
                // Rare: the last input ended in what may begin a delimiter. Join the two.
                var joined = held
                held.removeAll(keepingCapacity: true)
                joined.append(contentsOf: input)
                var failure: Failure?
                joined.withUnsafeBytes { b in
                    do throws(Failure) { try run(b, emit) } catch { failure = error }
                }
                if let failure { throw failure }
            }
        } catch {
            state = .failed
            throw error
        }
    }

    /// The body ended: it must have ended with the close delimiter.
    mutating func finish() throws(Failure) {
        guard state == .epilogue else {
            let was = state
            state = .failed
            if was == .preamble { throw Failure(description: "the multipart body has no boundary line") }
            throw Failure(description: "the multipart body ends before its closing boundary")
        }
    }

    private mutating func run(_ b: UnsafeRawBufferPointer, _ emit: (Event) throws(Failure) -> Void) throws(Failure) {
        var i = 0
        let n = b.count
        while i < n {
            switch state {
            case .preamble, .body:
                let inBody = state == .body
                switch findDelimiter(b, from: i) {
                case .found(let at):
                    if inBody && at > i { try emit(.data(UnsafeRawBufferPointer(rebasing: b[i..<at]))) }
                    if inBody { try emit(.partEnded) }
                    state = .afterDelimiter(dashes: 0, sawCR: false)
                    i = at + delimiter.count
                case .partial(let at):
                    if inBody && at > i { try emit(.data(UnsafeRawBufferPointer(rebasing: b[i..<at]))) }
                    held.append(contentsOf: UnsafeRawBufferPointer(rebasing: b[at..<n]))
                    return
                case .none:
                    if inBody { try emit(.data(UnsafeRawBufferPointer(rebasing: b[i..<n]))) }
                    return
                }
            case .afterDelimiter(let dashes, let sawCR):
                let c = b[i]
                i += 1
                if sawCR {
                    guard c == 0x0A else { throw Failure(description: "a boundary line does not end in CRLF") }
                    parts += 1
                    guard parts <= maximumParts else { throw Failure(description: "the multipart body has more than \(maximumParts) parts") }
                    state = .headers
                } else if c == 0x2D && dashes < 2 {
                    if dashes == 1 { state = .epilogue } else { state = .afterDelimiter(dashes: 1, sawCR: false) }
                } else if dashes == 0 && (c == 0x20 || c == 0x09) {
                    continue // transport padding
                } else if dashes == 0 && c == 0x0D {
                    state = .afterDelimiter(dashes: 0, sawCR: true)
                } else {
                    // Text after the boundary on its line: it was part of the data, not a
                    // delimiter; RFC 2046 forbids boundaries that occur in the data, so refuse.
                    throw Failure(description: "a boundary line has text after the boundary")
                }
            case .headers:
                // The block ends at the first CRLF CRLF (or at once, for a part with no headers).
                while i < n {
                    let c = b[i]
                    i += 1
                    held.append(c)
                    if c == 0x0A && (held.count == 2 || held.suffix(4).elementsEqual([0x0D, 0x0A, 0x0D, 0x0A])) {
                        break
                    }
                    if held.count > maximumHeaderBytes { throw Failure(description: "a part's headers exceed \(maximumHeaderBytes) bytes") }
                }
                guard let last = held.last, last == 0x0A, held.count == 2 || held.suffix(4).elementsEqual([0x0D, 0x0A, 0x0D, 0x0A]) else { return }
                if held.count == 2 && held != [0x0D, 0x0A] { throw Failure(description: "a part's headers are malformed") }
                let head = try MultipartFormParser.parseHead(held)
                held.removeAll(keepingCapacity: true)
                state = .body
                try emit(.partBegan(head))
            case .epilogue:
                return
            case .failed:
                throw Failure(description: "the multipart body is malformed")
            }
        }
    }

    enum Search { case found(Int), partial(Int), none }

    /// The next delimiter at or after `from`, or where a prefix of one runs to the end.
    private func findDelimiter(_ b: UnsafeRawBufferPointer, from: Int) -> Search {
        let n = b.count
        let d = delimiter.count
        var i = from
        while i < n {
            guard let p = memchr(b.baseAddress! + i, 0x0D, n - i) else { return .none }
            let j = b.baseAddress!.distance(to: UnsafeRawPointer(p))
            let available = min(d, n - j)
            let same = delimiter.withUnsafeBytes { memcmp(b.baseAddress! + j, $0.baseAddress!, available) == 0 }
            if same { return available == d ? .found(j) : .partial(j) }
            i = j + 1
        }
        return .none
    }

    /// Header lines of one part (the block ends in CRLF CRLF).
    static func parseHead(_ block: [UInt8]) throws(Failure) -> PartHead {
        var head = PartHead()
        let text = String(decoding: block, as: UTF8.self)
        guard text.utf8.elementsEqual(block) else { throw Failure(description: "a part's headers are not UTF-8") }
        for rawLine in text.split(separator: "\r\n", omittingEmptySubsequences: true) {
            guard let colon = rawLine.firstIndex(of: ":") else { throw Failure(description: "a part header line has no colon") }
            let name = rawLine[..<colon].lowercased()
            guard !name.isEmpty, name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw Failure(description: "a part header name is malformed") }
            let value = rawLine[rawLine.index(after: colon)...].trimmingSpaces()
            guard !value.utf8.contains(where: { $0 < 0x20 && $0 != 0x09 }) else { throw Failure(description: "a part header has control characters") }
            switch name {
            case "content-disposition":
                guard head.name == nil && head.filename == nil else { throw Failure(description: "a part has two Content-Disposition headers") }
                try disposition(value, into: &head)
            case "content-type":
                head.contentType = value
            default:
                break
            }
        }
        return head
    }

    /// `form-data; name="file"; filename="report.pdf"` (quoted strings with backslash escapes,
    /// or tokens; `filename*=UTF-8''…` wins over `filename`).
    static func disposition(_ value: String, into head: inout PartHead) throws(Failure) {
        let bytes = Array(value.utf8)
        var i = 0
        func skipSpaces() { while i < bytes.count && (bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 } }
        func token() -> String {
            let s = i
            while i < bytes.count && bytes[i] != 0x3B && bytes[i] != 0x3D && bytes[i] != 0x20 && bytes[i] != 0x09 { i += 1 }
            return String(decoding: bytes[s..<i], as: UTF8.self)
        }
        skipSpaces()
        guard token().lowercased() == "form-data" else { throw Failure(description: "a part's Content-Disposition is not form-data") }
        var extended: String?
        while true {
            skipSpaces()
            if i >= bytes.count { break }
            guard bytes[i] == 0x3B else { throw Failure(description: "a part's Content-Disposition is malformed") }
            i += 1
            skipSpaces()
            let key = token().lowercased()
            skipSpaces()
            guard i < bytes.count, bytes[i] == 0x3D else { throw Failure(description: "a Content-Disposition parameter has no value") }
            i += 1
            skipSpaces()
            var v: [UInt8] = []
            if i < bytes.count && bytes[i] == 0x22 {
                i += 1
                var closed = false
                while i < bytes.count {
                    let c = bytes[i]
                    i += 1
                    if c == 0x5C && i < bytes.count { v.append(bytes[i]); i += 1; continue }
                    if c == 0x22 { closed = true; break }
                    v.append(c)
                }
                guard closed else { throw Failure(description: "a Content-Disposition quoted string does not close") }
            } else {
                v = Array(token().utf8)
            }
            let text = String(decoding: v, as: UTF8.self)
            switch key {
            case "name": head.name = text
            case "filename": head.filename = text
            case "filename*": extended = text
            default: break
            }
        }
        if let extended {
            // RFC 5987: charset'language'percent-encoded; only UTF-8 is taken.
            let pieces = extended.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
            guard pieces.count == 3, pieces[0].lowercased() == "utf-8" else { throw Failure(description: "filename* must be UTF-8''…") }
            guard let decoded = Array(pieces[2].utf8).withUnsafeBytes({ PercentDecoding.decode($0) }) else {
                throw Failure(description: "filename* is not valid percent-encoded UTF-8")
            }
            head.filename = decoded
        }
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
