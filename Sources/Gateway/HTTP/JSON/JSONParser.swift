#if canImport(Glibc)
import Glibc
#endif

/// A strict RFC 8259 parser for request bodies, the first half of `JSONBody`.
///
/// Why not Foundation's `JSONSerialization`: it guesses UTF-16/UTF-32 from NUL bytes, accepts
/// trailing commas, keeps the last of duplicate keys (so `{"role":"reader","role":"admin"}`
/// means whatever the last parser in a chain decides), and turns big numbers into lossy
/// doubles. This one reads UTF-8 only, refuses duplicate keys, lone surrogates, control
/// characters in strings, leading zeros, trailing garbage and nesting deeper than `maximumDepth`,
/// and keeps numbers as text. Each error says where (byte offset) and what.
public struct JSONParser {
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public let offset: Int
        public let reason: String
        public var description: String { "\(reason) at byte \(offset)" }
    }

    public static let maximumDepth = 64

    let bytes: UnsafeRawBufferPointer
    var i = 0
    var depth = 0
    /// Member-by-member reading: an object was opened and its first member not yet read.
    var pendingFirst = false

    /// Parses one JSON value filling the whole input (whitespace around it allowed).
    public static func parse(_ input: UnsafeRawBufferPointer) throws(Failure) -> JSONValue {
        var parser = JSONParser(bytes: input)
        parser.skipWhitespace()
        let value = try parser.value()
        parser.skipWhitespace()
        guard parser.i == input.count else { throw parser.fail("unexpected data after the JSON value") }
        return value
    }

    public static func parse(_ input: [UInt8]) throws(Failure) -> JSONValue {
        let result = input.withUnsafeBytes { buffer in Result { () throws(Failure) -> JSONValue in try parse(buffer) } }
        return try result.get()
    }

    func fail(_ reason: String) -> Failure { Failure(offset: i, reason: reason) }

    @inline(__always) var current: UInt8? { i < bytes.count ? bytes[i] : nil }

    mutating func skipWhitespace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return
            }
        }
    }

    mutating func value() throws(Failure) -> JSONValue {
        guard let c = current else { throw fail("unexpected end of input") }
        switch c {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw fail("unexpected character")
        }
    }

    mutating func literal(_ word: StaticString) throws(Failure) {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw fail("unexpected end of input") }
        for k in 0..<n where bytes[i + k] != word.utf8Start[k] { throw fail("invalid literal") }
        i += n
    }

    mutating func enter() throws(Failure) {
        depth += 1
        guard depth <= JSONParser.maximumDepth else { throw fail("nesting deeper than \(JSONParser.maximumDepth)") }
    }

    mutating func object() throws(Failure) -> JSONValue {
        try enter()
        i += 1
        var members = JSONObject()
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            i += 1
            depth -= 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw fail("expected a member name") }
            let keyOffset = i
            let key = try string()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw fail("expected ':' after a member name") }
            i += 1
            skipWhitespace()
            let member = try value()
            guard members.insert(key, member) else {
                throw Failure(offset: keyOffset, reason: "duplicate member '\(key.prefix(64))'")
            }
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): i += 1
            case UInt8(ascii: "}"):
                i += 1
                depth -= 1
                return .object(members)
            default: throw fail("expected ',' or '}' in an object")
            }
        }
    }

    mutating func array() throws(Failure) -> JSONValue {
        try enter()
        i += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            i += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try value())
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): i += 1
            case UInt8(ascii: "]"):
                i += 1
                depth -= 1
                return .array(elements)
            default: throw fail("expected ',' or ']' in an array")
            }
        }
    }

    /// A string starting at the opening quote; escapes decoded, UTF-8 validated.
    mutating func string() throws(Failure) -> String {
        i += 1
        let start = i
        // Fast path: no escapes — validate the slice as UTF-8 in one go.
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                guard let s = String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self) else {
                    throw Failure(offset: start, reason: "a string is not valid UTF-8")
                }
                i += 1
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw fail("a control character inside a string") }
            i += 1
        }
        var out = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
        while true {
            guard let c = current else { throw fail("unterminated string") }
            if c == UInt8(ascii: "\"") {
                i += 1
                guard let s = String(validating: out, as: UTF8.self) else {
                    throw Failure(offset: start, reason: "a string is not valid UTF-8")
                }
                return s
            }
            if c < 0x20 { throw fail("a control character inside a string") }
            if c != UInt8(ascii: "\\") {
                out.append(c)
                i += 1
                continue
            }
            i += 1
            guard let e = current else { throw fail("unterminated escape") }
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    guard current == UInt8(ascii: "\\"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "u") else {
                        throw fail("a lone surrogate in \\u escapes")
                    }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw fail("a lone surrogate in \\u escapes") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw fail("a lone surrogate in \\u escapes")
                }
                out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
            default:
                throw fail("an invalid escape")
            }
        }
    }

    mutating func hex4() throws(Failure) -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("unterminated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - 0x30)
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - 0x61 + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - 0x41 + 10)
            default: throw fail("an invalid \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    /// -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
    mutating func number() throws(Failure) -> String {
        let start = i
        if current == UInt8(ascii: "-") { i += 1 }
        guard let first = current, first >= 0x30 && first <= 0x39 else { throw fail("a number needs digits") }
        i += 1
        if first == 0x30, let c = current, c >= 0x30 && c <= 0x39 { throw fail("a number with a leading zero") }
        digits()
        if current == UInt8(ascii: ".") {
            i += 1
            guard let c = current, c >= 0x30 && c <= 0x39 else { throw fail("a fraction needs digits") }
            digits()
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            i += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { i += 1 }
            guard let c = current, c >= 0x30 && c <= 0x39 else { throw fail("an exponent needs digits") }
            digits()
        }
        guard i - start <= 512 else { throw Failure(offset: start, reason: "a number longer than 512 characters") }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
    }

    mutating func digits() {
        while let c = current, c >= 0x30 && c <= 0x39 { i += 1 }
    }
}

/// The same parser driven member by member, for bodies too large to build as `JSONValue`s
/// (a batch of embeddings is hundreds of thousands of numbers): the caller walks the top
/// object with `nextMember`, reads large arrays straight into `[Float]`, and takes the rest as
/// values. The same grammar and limits apply; duplicate members are the caller's to refuse.
extension JSONParser {
    public init(_ input: UnsafeRawBufferPointer) {
        self.init(bytes: input)
    }

    /// Where the parser is, for error messages.
    public var offset: Int { i }

    /// Consumes the opening `{` of an object.
    public mutating func beginObject() throws(Failure) {
        skipWhitespace()
        guard current == UInt8(ascii: "{") else { throw fail("expected an object") }
        try enter()
        i += 1
        skipWhitespace()
        if current != UInt8(ascii: "}") { pendingFirst = true }
    }

    /// The next member's name (its value is to be read next), or nil at the object's `}`.
    public mutating func nextMember() throws(Failure) -> String? {
        skipWhitespace()
        if pendingFirst {
            pendingFirst = false
        } else {
            switch current {
            case UInt8(ascii: "}"):
                i += 1
                depth -= 1
                return nil
            case UInt8(ascii: ","):
                i += 1
                skipWhitespace()
            default:
                throw fail("expected ',' or '}' in an object")
            }
        }
        guard current == UInt8(ascii: "\"") else { throw fail("expected a member name") }
        let key = try string()
        skipWhitespace()
        guard current == UInt8(ascii: ":") else { throw fail("expected ':' after a member name") }
        i += 1
        skipWhitespace()
        return key
    }

    /// Any value, built as a `JSONValue`.
    public mutating func readValue() throws(Failure) -> JSONValue {
        skipWhitespace()
        return try value()
    }

    /// True (and consumed) when the next value is `null`.
    public mutating func readNull() throws(Failure) -> Bool {
        skipWhitespace()
        guard current == UInt8(ascii: "n") else { return false }
        try literal("null")
        return true
    }

    /// The next value if it is a string; nil (nothing consumed) if it is not.
    public mutating func readStringIfPresent() throws(Failure) -> String? {
        skipWhitespace()
        guard current == UInt8(ascii: "\"") else { return nil }
        return try string()
    }

    /// True when the next value is an array (nothing consumed).
    public mutating func peekArray() -> Bool {
        skipWhitespace()
        return current == UInt8(ascii: "[")
    }

    /// Reads an array, calling `element` with the parser at each element's start; the
    /// closure must consume exactly one value.
    public mutating func readArray(_ element: (inout JSONParser, Int) throws(Failure) -> Void) throws(Failure) {
        skipWhitespace()
        guard current == UInt8(ascii: "[") else { throw fail("expected an array") }
        try enter()
        i += 1
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            i += 1
            depth -= 1
            return
        }
        var index = 0
        while true {
            skipWhitespace()
            try element(&self, index)
            index += 1
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): i += 1
            case UInt8(ascii: "]"):
                i += 1
                depth -= 1
                return
            default: throw fail("expected ',' or ']' in an array")
            }
        }
    }

    /// An array of numbers appended to `out` as float32, without building a value per
    /// number. A number float32 cannot hold (1e39) is an error, as is a non-number.
    public mutating func readFloats(into out: inout [Float]) throws(Failure) {
        try readArray { (p, _) throws(Failure) in out.append(try p.float()) }
    }

    /// One number as float32, correctly rounded. The grammar is checked as `number()` does
    /// while the digits are gathered; a number of at most 19 significant digits and a decimal
    /// exponent within ±22 (what embeddings are written with) is converted exactly by Clinger's
    /// fast path — the mantissa and the power of ten are exact doubles, so one multiplication
    /// or division rounds once — then narrowed to float32, which is correct unless the double
    /// lands exactly on a tie between two floats. Anything else (and that tie) goes to
    /// `strtof` on a NUL-terminated copy: strtof alone was a sixth of a small query's time.
    public mutating func float() throws(Failure) -> Float {
        skipWhitespace()
        let start = i
        guard let c = current, c == UInt8(ascii: "-") || (c >= 0x30 && c <= 0x39) else {
            throw fail(current == nil ? "unexpected end of input" : "expected a number")
        }
        let negative = c == UInt8(ascii: "-")
        if negative { i += 1 }
        guard let first = current, first >= 0x30 && first <= 0x39 else { throw fail("a number needs digits") }
        if first == 0x30, i + 1 < bytes.count, bytes[i + 1] >= 0x30 && bytes[i + 1] <= 0x39 { i += 1; throw fail("a number with a leading zero") }
        var mantissa: UInt64 = 0
        var significant = 0
        var exponent = 0
        var exact = true
        while let d = current, d >= 0x30 && d <= 0x39 {
            let v = UInt64(d - 0x30)
            if significant < 19 {
                if mantissa != 0 || v != 0 { mantissa = mantissa &* 10 &+ v; significant += 1 }
            } else {
                exponent += 1
                if v != 0 { exact = false }
            }
            i += 1
        }
        if current == UInt8(ascii: ".") {
            i += 1
            guard let c = current, c >= 0x30 && c <= 0x39 else { throw fail("a fraction needs digits") }
            while let d = current, d >= 0x30 && d <= 0x39 {
                let v = UInt64(d - 0x30)
                if significant < 19 {
                    if mantissa != 0 || v != 0 { mantissa = mantissa &* 10 &+ v; significant += 1 }
                    exponent -= 1
                } else if v != 0 {
                    exact = false
                }
                i += 1
            }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            i += 1
            var exponentNegative = false
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { exponentNegative = current == UInt8(ascii: "-"); i += 1 }
            guard let c = current, c >= 0x30 && c <= 0x39 else { throw fail("an exponent needs digits") }
            var written = 0
            while let d = current, d >= 0x30 && d <= 0x39 {
                if written < 100_000 { written = written * 10 + Int(d - 0x30) }
                i += 1
            }
            exponent += exponentNegative ? -written : written
        }
        let length = i - start
        guard length <= 64 else { throw Failure(offset: start, reason: "a number longer than 64 characters") }
        if exact, mantissa <= 1 << 53, (-22...22).contains(exponent) {
            var x = Double(mantissa)
            if exponent < 0 { x /= JSONParser.powersOfTen[-exponent] } else { x *= JSONParser.powersOfTen[exponent] }
            let f = Float(x)
            var tie = false
            if Double(f) != x, f.isFinite {
                let neighbour = x > Double(f) ? f.nextUp : f.nextDown
                tie = x == (Double(f) + Double(neighbour)) / 2
            }
            if !tie {
                guard f.isFinite else { throw Failure(offset: start, reason: "a number beyond float32's range") }
                return negative ? -f : f
            }
        }
        let value: Float = withUnsafeTemporaryAllocation(of: CChar.self, capacity: 65) { buffer in
            UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: bytes.baseAddress! + start, byteCount: length)
            buffer[length] = 0
            return strtof(buffer.baseAddress!, nil)
        }
        guard value.isFinite else { throw Failure(offset: start, reason: "a number beyond float32's range") }
        return value
    }

    /// 1e0 … 1e22: every one an exact double.
    static let powersOfTen: [Double] = (0...22).map { e in (0..<e).reduce(1.0) { x, _ in x * 10 } }

    /// Only whitespace may follow the top value.
    public mutating func end() throws(Failure) {
        skipWhitespace()
        guard i == bytes.count else { throw fail("unexpected data after the JSON value") }
    }
}
