import Net

/// API key secrets: `aiw_` followed by 32 random bytes in base62 (43 characters). Only the
/// SHA-256 of a secret is stored; the secret is shown once, when it is created.
public enum APIKeySecret {
    public static let prefix = "aiw_"
    static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
    /// ceil(256 / log2(62)).
    public static let bodyLength = 43

    /// A new secret from the kernel's random source.
    public static func generate() -> String {
        var bytes = [UInt8](repeating: 0, count: 32)
        for i in stride(from: 0, to: 32, by: 8) {
            var v = Digests.randomUInt64()
            for k in 0..<8 { bytes[i + k] = UInt8(truncatingIfNeeded: v); v >>= 8 }
        }
        return prefix + base62(bytes, length: bodyLength)
    }

    /// A short random identifier (`key_` + 16 base62 characters) that is not secret.
    public static func generateID() -> String {
        var bytes = [UInt8](repeating: 0, count: 12)
        var v = Digests.randomUInt64(), w = Digests.randomUInt64()
        for k in 0..<8 { bytes[k] = UInt8(truncatingIfNeeded: v); v >>= 8 }
        for k in 8..<12 { bytes[k] = UInt8(truncatingIfNeeded: w); w >>= 8 }
        return "key_" + base62(bytes, length: 16)
    }

    /// Big-endian base conversion, left-padded to `length` digits.
    static func base62(_ bytes: [UInt8], length: Int) -> String {
        var number = bytes
        var digits: [UInt8] = []
        while number.contains(where: { $0 != 0 }) {
            var remainder = 0
            for i in 0..<number.count {
                let value = remainder * 256 + Int(number[i])
                number[i] = UInt8(value / 62)
                remainder = value % 62
            }
            digits.append(alphabet[remainder])
        }
        while digits.count < length { digits.append(alphabet[0]) }
        return String(decoding: digits.reversed(), as: UTF8.self)
    }

    /// Whether `token` has the shape of a secret: checked before any hashing or lookup, so
    /// junk (empty, 10 KB, non-ASCII, another vendor's key) costs nothing.
    public static func isWellFormed(_ token: UnsafeRawBufferPointer) -> Bool {
        guard token.count == 4 + bodyLength else { return false }
        // "aiw_" as one little-endian word: no String, no iterator.
        guard token.loadUnaligned(as: UInt32.self) == UInt32(littleEndian: 0x5F77_6961) else { return false }
        for i in 4..<token.count {
            let c = token[i]
            let ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
            if !ok { return false }
        }
        return true
    }

    public static func sha256(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        Digests.sha256(bytes)
    }

    public static func sha256(_ text: String) -> [UInt8] {
        Array(text.utf8).withUnsafeBytes { sha256($0) }
    }

    /// Equal contents in time that depends only on the length.
    @inline(never)
    public static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<a.count { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}
