/// Percent-decoding of request-target components (RFC 3986 §2.1).
///
/// Paths are split on "/" before decoding, so an encoded slash (%2F) stays inside its segment
/// instead of changing which route matches.
public enum PercentDecoding {
    @inline(__always)
    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }

    /// Whether every "%" is followed by two hex digits (and, when asked, none encodes NUL).
    public static func isValid(_ bytes: UnsafeRawBufferPointer, rejectNUL: Bool) -> Bool {
        var i = 0
        let n = bytes.count
        while i < n {
            if bytes[i] == 0x25 {
                guard i + 2 < n, let h = hexValue(bytes[i + 1]), let l = hexValue(bytes[i + 2]) else { return false }
                if rejectNUL && h == 0 && l == 0 { return false }
                i += 3
            } else {
                i += 1
            }
        }
        return true
    }

    /// Decodes `bytes`; with `plusAsSpace` (query strings, form encoding) "+" becomes a space.
    /// Returns nil for a malformed escape or a result that is not valid UTF-8.
    public static func decode(_ bytes: UnsafeRawBufferPointer, plusAsSpace: Bool = false) -> String? {
        var needsWork = false
        for b in bytes where b == 0x25 || (plusAsSpace && b == 0x2B) { needsWork = true; break }
        if !needsWork {
            return String(validating: bytes, as: UTF8.self)
        }
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var i = 0
        let n = bytes.count
        while i < n {
            let c = bytes[i]
            if c == 0x25 {
                guard i + 2 < n, let h = hexValue(bytes[i + 1]), let l = hexValue(bytes[i + 2]) else { return nil }
                out.append(h << 4 | l)
                i += 3
            } else if plusAsSpace && c == 0x2B {
                out.append(0x20)
                i += 1
            } else {
                out.append(c)
                i += 1
            }
        }
        return String(validating: out, as: UTF8.self)
    }
}
