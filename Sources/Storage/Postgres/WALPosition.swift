/// A point in PostgreSQL's write-ahead log (an LSN), as the server spells it: two hexadecimal
/// halves, `16/B374D848`. It is also the read-your-writes token the gateway hands a client
/// after a write (`X-AIWriter-Read-After`), so it parses hostile text without trapping.
public struct WALPosition: Sendable, Comparable, CustomStringConvertible {
    public let value: UInt64

    public init(_ value: UInt64) { self.value = value }

    /// `nil` unless `text` is `hex/hex` with each half at most 8 digits (what the server prints).
    public init?(_ text: some StringProtocol) {
        var high: UInt64 = 0, low: UInt64 = 0, digits = 0, sawSlash = false
        for byte in text.utf8 {
            if byte == UInt8(ascii: "/") {
                guard !sawSlash, digits > 0 else { return nil }
                sawSlash = true
                digits = 0
                continue
            }
            let nibble: UInt64
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = UInt64(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = UInt64(byte - UInt8(ascii: "A") + 10)
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = UInt64(byte - UInt8(ascii: "a") + 10)
            default: return nil
            }
            digits += 1
            guard digits <= 8 else { return nil }
            if sawSlash { low = low << 4 | nibble } else { high = high << 4 | nibble }
        }
        guard sawSlash, digits > 0 else { return nil }
        value = high << 32 | low
    }

    public var description: String {
        String(value >> 32, radix: 16, uppercase: true) + "/" + String(value & 0xFFFF_FFFF, radix: 16, uppercase: true)
    }

    /// Beyond any position a standby will reach: a read that must go to the primary.
    public static let newest = WALPosition(UInt64.max)

    public static func < (a: WALPosition, b: WALPosition) -> Bool { a.value < b.value }
}
