/// Embeddings as Chroma's client sends them once a server advertises
/// `supports_base64_encoding`: standard base64 (RFC 4648, padded) of packed little-endian
/// float32s (`struct.pack("<{n}f")`). Strict: no whitespace, no URL alphabet, padding only at
/// the end, a whole number of floats; the caller checks the dimension and finiteness.
enum Base64Floats {
    static func decode(_ text: String) -> Result<[Float], CollectionError> {
        var bytes: [UInt8] = []
        let utf8 = text.utf8
        guard utf8.count % 4 == 0 else { return .failure(.invalid("base64 of \(utf8.count) characters (not a multiple of 4)")) }
        bytes.reserveCapacity(utf8.count / 4 * 3)
        var quad: UInt32 = 0, filled = 0, padding = 0
        for c in utf8 {
            let v: UInt32
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = UInt32(c - 65)
            case UInt8(ascii: "a")...UInt8(ascii: "z"): v = UInt32(c - 71)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt32(c) + 4
            case UInt8(ascii: "+"): v = 62
            case UInt8(ascii: "/"): v = 63
            case UInt8(ascii: "="):
                padding += 1
                v = 0
            default: return .failure(.invalid("not base64 (a character outside the alphabet)"))
            }
            if padding > 0 && c != UInt8(ascii: "=") { return .failure(.invalid("not base64 (data after padding)")) }
            quad = quad << 6 | v
            filled += 1
            if filled == 4 {
                bytes.append(UInt8(truncatingIfNeeded: quad >> 16))
                bytes.append(UInt8(truncatingIfNeeded: quad >> 8))
                bytes.append(UInt8(truncatingIfNeeded: quad))
                quad = 0
                filled = 0
            }
        }
        guard padding <= 2 else { return .failure(.invalid("not base64 (too much padding)")) }
        bytes.removeLast(padding)
        guard bytes.count % 4 == 0, !bytes.isEmpty else {
            return .failure(.invalid("\(bytes.count) bytes is not a whole number of float32 components"))
        }
        let floats = [Float](unsafeUninitializedCapacity: bytes.count / 4) { buffer, count in
            for i in 0..<bytes.count / 4 {
                let bits = UInt32(bytes[4 * i]) | UInt32(bytes[4 * i + 1]) << 8 | UInt32(bytes[4 * i + 2]) << 16 | UInt32(bytes[4 * i + 3]) << 24
                buffer[i] = Float(bitPattern: bits)
            }
            count = bytes.count / 4
        }
        return .success(floats)
    }
}
