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
    public mutating func string(_ s: String) {
        bytes.append(0x22)
        for c in s.utf8 {
            switch c {
            case 0x22: bytes.append(0x5C); bytes.append(0x22)
            case 0x5C: bytes.append(0x5C); bytes.append(0x5C)
            case 0x0A: bytes.append(0x5C); bytes.append(0x6E)
            case 0x0D: bytes.append(0x5C); bytes.append(0x72)
            case 0x09: bytes.append(0x5C); bytes.append(0x74)
            case 0x00..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(c >> 4)], hex[Int(c & 0xF)]])
            default: bytes.append(c)
            }
        }
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
