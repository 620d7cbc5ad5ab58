#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address in binary form. Per-client limits and the trusted-proxy check
/// compare addresses, not their spellings: `::ffff:10.0.0.1` is `10.0.0.1`, and `2001:DB8::1`
/// is `2001:db8::1`, so one client cannot pass for many by spelling its address differently.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// Network order; an IPv4 address uses the first 4 bytes.
    public let bytes: (UInt64, UInt64)
    public let isIPv4: Bool

    /// Parses a bare address (`10.0.0.1`, `2001:db8::1`, `::ffff:10.0.0.1`); nil for anything else.
    public init?(_ text: Substring) {
        // inet_pton takes a C string; addresses are at most 45 characters (IPv4-mapped IPv6).
        guard !text.isEmpty, text.utf8.count <= 45,
              text.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x3A) || $0 == 0x2E || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66) }) else { return nil }
        var storage = (UInt64(0), UInt64(0))
        let isV6 = text.utf8.contains(UInt8(ascii: ":"))
        let ok = withUnsafeMutableBytes(of: &storage) { out in
            String(text).withCString { inet_pton(isV6 ? AF_INET6 : AF_INET, $0, out.baseAddress) == 1 }
        }
        guard ok else { return nil }
        if isV6 {
            // ::ffff:a.b.c.d is the IPv4 address a.b.c.d (a dual-stack socket's view of it).
            let mapped = withUnsafeBytes(of: storage) { b in
                b[0..<10].allSatisfy { $0 == 0 } && b[10] == 0xff && b[11] == 0xff
            }
            if mapped {
                var v4 = (UInt64(0), UInt64(0))
                withUnsafeBytes(of: storage) { b in
                    withUnsafeMutableBytes(of: &v4) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: b[12..<16])) }
                }
                bytes = v4
                isIPv4 = true
                return
            }
        }
        bytes = storage
        isIPv4 = !isV6
    }

    public init?(_ text: String) { self.init(Substring(text)) }

    /// One entry of an X-Forwarded-For list: an address, optionally with a port
    /// (`1.2.3.4:80`, `[2001:db8::1]:80`, as some load balancers write them).
    public init?(forwardedEntry entry: Substring) {
        let text = entry.trimmingSpaces
        if text.first == "[" {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let rest = text[text.index(after: close)...]
            guard rest.isEmpty || (rest.first == ":" && rest.dropFirst().allSatisfy(\.isASCIIDigit) && rest.count > 1) else { return nil }
            self.init(text[text.index(after: text.startIndex)..<close])
            return
        }
        if let colon = text.firstIndex(of: ":"), text[text.index(after: colon)...].firstIndex(of: ":") == nil {
            // Exactly one colon: IPv4 with a port.
            let port = text[text.index(after: colon)...]
            guard !port.isEmpty, port.allSatisfy(\.isASCIIDigit) else { return nil }
            self.init(text[..<colon])
            return
        }
        self.init(text)
    }

    /// Whether the first `prefix` bits equal `network`'s.
    func matches(_ network: IPAddress, prefix: Int) -> Bool {
        guard isIPv4 == network.isIPv4 else { return false }
        func masked(_ word: UInt64, _ bits: Int) -> UInt64 {
            // Network order: the first bits are the low-address bytes, so mask in big-endian terms.
            if bits <= 0 { return 0 }
            if bits >= 64 { return word }
            let mask = UInt64.max << UInt64(64 - bits)
            return (UInt64(bigEndian: word) & mask).bigEndian
        }
        return masked(bytes.0, prefix) == masked(network.bytes.0, prefix)
            && masked(bytes.1, prefix - 64) == masked(network.bytes.1, prefix - 64)
    }

    /// The canonical spelling (inet_ntop).
    public var description: String {
        var storage = bytes
        var name = [CChar](repeating: 0, count: 64)
        return withUnsafeBytes(of: &storage) { raw in
            _ = inet_ntop(isIPv4 ? AF_INET : AF_INET6, raw.baseAddress, &name, 64)
            return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    public static func == (a: IPAddress, b: IPAddress) -> Bool {
        a.isIPv4 == b.isIPv4 && a.bytes == b.bytes
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(bytes.0)
        hasher.combine(bytes.1)
        hasher.combine(isIPv4)
    }
}

extension Character {
    var isASCIIDigit: Bool { asciiValue.map { $0 >= 0x30 && $0 <= 0x39 } ?? false }
}
