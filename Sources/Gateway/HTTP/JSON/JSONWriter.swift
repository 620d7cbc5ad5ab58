/// Appends JSON text to a byte array without Foundation: enough for error bodies, metrics
/// labels and log lines, which are built on the request path.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 128) { bytes.reserveCapacity(capacity) }

    public mutating func raw(_ s: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    public mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

    /// A JSON string literal, escaped per RFC 8259 (control characters as \u00XX).
    /// Runs of bytes that need no escape are copied in one append: a document body is almost
    /// all such bytes, and appending them one at a time was 7 % of a document read's CPU
    /// (perf, `GET /v1/documents/{id}` on PostgreSQL).
    public mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { escaped($0) }
    }

    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    mutating func escaped(_ utf8: UnsafeBufferPointer<UInt8>) {
        bytes.reserveCapacity(bytes.count + utf8.count + 2)
        bytes.append(0x22)
        var runStart = 0
        for i in 0..<utf8.count {
            let c = utf8[i]
            // Every byte of a multi-byte UTF-8 sequence is ≥ 0x80: copied as it is.
            if c >= 0x20 && c != 0x22 && c != 0x5C { continue }
            if runStart < i { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<i])) }
            runStart = i + 1
            switch c {
            case 0x22: bytes.append(0x5C); bytes.append(0x22)
            case 0x5C: bytes.append(0x5C); bytes.append(0x5C)
            case 0x0A: bytes.append(0x5C); bytes.append(0x6E)
            case 0x0D: bytes.append(0x5C); bytes.append(0x72)
            case 0x09: bytes.append(0x5C); bytes.append(0x74)
            default:
                bytes.append(0x5C); bytes.append(0x75); bytes.append(0x30); bytes.append(0x30)
                bytes.append(JSONWriter.hexDigits[Int(c >> 4)]); bytes.append(JSONWriter.hexDigits[Int(c & 0xF)])
            }
        }
        if runStart < utf8.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...])) }
        bytes.append(0x22)
    }

    public mutating func number(_ v: Int) { bytes.append(contentsOf: String(v).utf8) }

    public mutating func number(_ v: Double) {
        if v.isFinite { bytes.append(contentsOf: String(v).utf8) } else { raw("null") }
    }

    /// Float32's shortest round-trip text (what a float32 embedding or distance holds, not
    /// the float64 digits of its widening); null when not finite.
    public mutating func number(_ v: Float) {
        if v.isFinite { bytes.append(contentsOf: v.description.utf8) } else { raw("null") }
    }

    public mutating func bool(_ v: Bool) { raw(v ? "true" : "false") }
}
