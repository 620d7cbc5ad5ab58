import Net

/// The opaque `cursor` of a paged listing: the last id (or version) of the page, bound to the
/// listing it came from (route, filters) by a checksum, base64url. A cursor edited by hand, or
/// passed to another listing, is refused (400) instead of silently paging from somewhere else.
/// Not a secret: it only ever pages the caller's own tenant, whose rows it could list anyway.
enum PageCursor {
    static func encode(_ position: Int64, scope: String) -> String {
        var bytes = withUnsafeBytes(of: position.bigEndian) { Array($0) }
        bytes += checksum(bytes, scope)
        return base64url(bytes)
    }

    static func decode(_ text: String, scope: String) throws(GatewayError) -> Int64 {
        guard let bytes = unbase64url(text), bytes.count == 16, Array(bytes[8...]) == checksum(Array(bytes[..<8]), scope) else {
            throw GatewayError(.badRequest, "invalid_cursor", "the cursor is not one this listing gave out")
        }
        return bytes[..<8].reduce(Int64(0)) { $0 << 8 | Int64($1) }
    }

    static func checksum(_ bytes: [UInt8], _ scope: String) -> [UInt8] {
        let input = Array("aiwriter-cursor\u{0}".utf8) + Array(scope.utf8) + [0] + bytes
        return Array(input.withUnsafeBytes { Digests.sha256($0) }.prefix(8))
    }

    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func base64url(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let n = min(3, bytes.count - i)
            var v = UInt32(bytes[i]) << 16
            if n > 1 { v |= UInt32(bytes[i + 1]) << 8 }
            if n > 2 { v |= UInt32(bytes[i + 2]) }
            for k in 0..<(n + 1) { out.append(alphabet[Int((v >> UInt32(18 - 6 * k)) & 63)]) }
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func unbase64url(_ text: String) -> [UInt8]? {
        var value: [UInt8: UInt32] = [:]
        for (i, c) in alphabet.enumerated() { value[c] = UInt32(i) }
        let chars = Array(text.utf8)
        guard chars.count <= 64, chars.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        var i = 0
        while i < chars.count {
            let n = min(4, chars.count - i)
            var v: UInt32 = 0
            for k in 0..<4 {
                if k < n {
                    guard let d = value[chars[i + k]] else { return nil }
                    v |= d << UInt32(18 - 6 * k)
                }
            }
            out.append(UInt8(v >> 16))
            if n > 2 { out.append(UInt8((v >> 8) & 0xFF)) }
            if n > 3 { out.append(UInt8(v & 0xFF)) }
            i += 4
        }
        // Only the canonical spelling: the bits a short final group cannot carry must be zero.
        guard base64url(out) == text else { return nil }
        return out
    }
}
