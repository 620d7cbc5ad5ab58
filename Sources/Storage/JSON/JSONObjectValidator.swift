/// Checks that text is one JSON object (RFC 8259) that PostgreSQL's `jsonb` and SQLite's
/// `json_valid` both accept, before anything is sent to a database: no `\u0000`, no unpaired
/// surrogate escapes, nesting at most `maximumDepth`.
///
/// It allocates nothing and never recurses (depth is a counter), so hostile input costs one
/// pass over its bytes.
public enum JSONObjectValidator {
    public static let maximumDepth = 64

    /// nil when `text` is a valid object, else what is wrong and at which byte.
    public static func problem(in text: String) -> String? {
        var text = text
        return text.withUTF8 { problem(in: $0) }
    }

    public static func problem(in bytes: UnsafeBufferPointer<UInt8>) -> String? {
        var i = 0
        let n = bytes.count
        // Stack of open containers as bits: 1 = object, 0 = array.
        var stack: UInt64 = 0
        var depth = 0
        @inline(__always) func skipSpace() {
            while i < n, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }
        func fail(_ what: String) -> String { "metadata is not a valid JSON object: \(what) at byte \(i)" }

        skipSpace()
        guard i < n, bytes[i] == UInt8(ascii: "{") else { return "metadata must be a JSON object" }
        // States: expecting a value, or what follows one.
        var expectingValue = true
        var afterOpen = false     // just after `{` or `[` (allows `}` / `]`)
        var expectingKey = false  // inside an object, before a key
        while true {
            skipSpace()
            guard i < n else { return fail("unexpected end") }
            let c = bytes[i]
            if expectingValue {
                if afterOpen && ((c == UInt8(ascii: "}") && stack & 1 == 1) || (c == UInt8(ascii: "]") && stack & 1 == 0)) && depth > 0 {
                    // Empty container: handled as a close below.
                } else if expectingKey {
                    guard c == UInt8(ascii: "\"") else { return fail("expected a key") }
                    if let p = scanString(bytes, &i) { return fail(p) }
                    skipSpace()
                    guard i < n, bytes[i] == UInt8(ascii: ":") else { return fail("expected ':'") }
                    i += 1
                    expectingKey = false
                    afterOpen = false
                    continue
                } else {
                    afterOpen = false
                    switch c {
                    case UInt8(ascii: "{"), UInt8(ascii: "["):
                        depth += 1
                        guard depth <= maximumDepth else { return fail("nesting deeper than \(maximumDepth)") }
                        stack = (stack << 1) | (c == UInt8(ascii: "{") ? 1 : 0)
                        i += 1
                        afterOpen = true
                        expectingKey = c == UInt8(ascii: "{")
                        continue
                    case UInt8(ascii: "\""):
                        if let p = scanString(bytes, &i) { return fail(p) }
                    case UInt8(ascii: "t"): guard literal(bytes, &i, "true") else { return fail("bad literal") }
                    case UInt8(ascii: "f"): guard literal(bytes, &i, "false") else { return fail("bad literal") }
                    case UInt8(ascii: "n"): guard literal(bytes, &i, "null") else { return fail("bad literal") }
                    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                        let numberStart = i
                        guard scanNumber(bytes, &i) else { return fail("bad number") }
                        // Beyond a double's range: clients cannot read it back, and PostgreSQL's
                        // numeric refuses the largest exponents.
                        let literal = String(decoding: UnsafeBufferPointer(rebasing: bytes[numberStart..<i]), as: UTF8.self)
                        guard let value = Double(literal), value.isFinite else { return fail("number out of range") }
                    default: return fail("unexpected character")
                    }
                    expectingValue = false
                    continue
                }
            }
            // After a value (or at an empty container's close).
            let inObject = stack & 1 == 1
            if c == UInt8(ascii: ",") && !afterOpen {
                i += 1
                expectingValue = true
                expectingKey = inObject
                continue
            }
            guard (inObject && c == UInt8(ascii: "}")) || (!inObject && c == UInt8(ascii: "]")) else {
                return fail(inObject ? "expected ',' or '}'" : "expected ',' or ']'")
            }
            i += 1
            depth -= 1
            stack >>= 1
            afterOpen = false
            expectingKey = false
            expectingValue = false
            if depth == 0 {
                skipSpace()
                return i == n ? nil : fail("text after the object")
            }
        }
    }

    private static func literal(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int, _ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard i + count <= b.count else { return false }
        for k in 0..<count where b[i + k] != word.utf8Start[k] { return false }
        i += count
        return true
    }

    private static func scanNumber(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int) -> Bool {
        @inline(__always) func isDigit(_ k: Int) -> Bool { k < b.count && b[k] >= 0x30 && b[k] <= 0x39 }
        if b[i] == UInt8(ascii: "-") { i += 1 }
        guard isDigit(i) else { return false }
        if b[i] == UInt8(ascii: "0") { i += 1 } else { while isDigit(i) { i += 1 } }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            guard isDigit(i) else { return false }
            while isDigit(i) { i += 1 }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard isDigit(i) else { return false }
            while isDigit(i) { i += 1 }
        }
        return true
    }

    /// Scans a string starting at its opening quote; the bytes are valid UTF-8 already
    /// (they come from a Swift String), so only escapes and control characters are checked.
    private static func scanString(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int) -> String? {
        i += 1
        var pendingHighSurrogate = false
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                guard !pendingHighSurrogate else { return "unpaired surrogate escape" }
                i += 1
                return nil
            }
            if c < 0x20 { return "control character in a string" }
            if c != UInt8(ascii: "\\") {
                guard !pendingHighSurrogate else { return "unpaired surrogate escape" }
                i += 1
                continue
            }
            i += 1
            guard i < b.count else { break }
            let e = b[i]
            if e == UInt8(ascii: "u") {
                guard i + 4 < b.count else { return "short \\u escape" }
                var v: UInt32 = 0
                for k in 1...4 {
                    let h = b[i + k]
                    let d: UInt32
                    switch h {
                    case 0x30...0x39: d = UInt32(h - 0x30)
                    case 0x41...0x46: d = UInt32(h - 0x41 + 10)
                    case 0x61...0x66: d = UInt32(h - 0x61 + 10)
                    default: return "bad \\u escape"
                    }
                    v = v << 4 | d
                }
                i += 5
                if v == 0 { return "\\u0000 is not allowed" }
                if (0xD800...0xDBFF).contains(v) {
                    guard !pendingHighSurrogate else { return "unpaired surrogate escape" }
                    pendingHighSurrogate = true
                    continue
                }
                if (0xDC00...0xDFFF).contains(v) {
                    guard pendingHighSurrogate else { return "unpaired surrogate escape" }
                    pendingHighSurrogate = false
                    continue
                }
                guard !pendingHighSurrogate else { return "unpaired surrogate escape" }
                continue
            }
            guard !pendingHighSurrogate else { return "unpaired surrogate escape" }
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                 UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                i += 1
            default: return "bad escape"
            }
        }
        return "unterminated string"
    }
}
