import COpenSSL
import CUV

/// The hashes and randomness the layers above need, so none of them imports a C shim: SHA-256
/// on a stack context (OpenSSL's EVP one-shot allocates per call and took a global provider
/// lock), SHA-1 for Redis script ids, and 64 random bits from the kernel.
public enum Digests {
    /// SHA-256 of `bytes` into the 32 bytes at `out`.
    @inline(__always)
    public static func sha256(_ bytes: UnsafeRawBufferPointer, into out: UnsafeMutablePointer<UInt8>) {
        cssl_sha256(bytes.baseAddress, bytes.count, out)
    }

    public static func sha256(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        digest.withUnsafeMutableBufferPointer { sha256(bytes, into: $0.baseAddress!) }
        return digest
    }

    /// Lowercase hex of SHA-1 (what Redis names a script by).
    public static func sha1Hex(_ text: String) -> String {
        var digest = [UInt8](repeating: 0, count: 20)
        let bytes = Array(text.utf8)
        _ = SHA1(bytes, bytes.count, &digest)
        return hex(digest)
    }

    /// Lowercase hex of `bytes` (digests as text: ETags, checksums, request hashes).
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// 64 bits from getrandom(2).
    @inline(__always)
    public static func randomUInt64() -> UInt64 { UInt64(cuv_random_u64()) }

    /// A random version-4 UUID in its canonical lowercase text form.
    public static func uuid() -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        for k in 0..<2 {
            var r = randomUInt64()
            for j in 0..<8 { bytes[k * 8 + j] = UInt8(truncatingIfNeeded: r); r >>= 8 }
        }
        return uuidText(bytes)
    }

    /// A UUID (version 4 layout) derived from `name` by SHA-256: the same name gives the same
    /// UUID on every replica, for identities no row holds (a tenant's default database).
    public static func uuid(derivedFrom name: String) -> String {
        let digest = Array(name.utf8).withUnsafeBytes { sha256($0) }
        return uuidText(Array(digest.prefix(16)))
    }

    static func uuidText(_ raw: [UInt8]) -> String {
        var bytes = raw
        bytes[6] = bytes[6] & 0x0F | 0x40
        bytes[8] = bytes[8] & 0x3F | 0x80
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for (i, b) in bytes.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { out.append(0x2D) }
            out.append(hex[Int(b >> 4)])
            out.append(hex[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// SHA-256 of a stream fed piece by piece (a file as it is uploaded or read back). One owner at
/// a time: an upload hands it from its loop to the worker pool and back, never to two threads
/// at once.
public final class SHA256Stream: @unchecked Sendable {
    // @unchecked: used by one thread at a time (see above); the context is plain memory.
    let context: UnsafeMutableRawPointer
    public private(set) var byteCount = 0

    public init() {
        context = .allocate(byteCount: cssl_sha256_context_size(), alignment: 16)
        cssl_sha256_init(context)
    }

    deinit { context.deallocate() }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        cssl_sha256_update(context, bytes.baseAddress, bytes.count)
        byteCount += bytes.count
    }

    /// The digest; the stream is spent afterwards.
    public func finish() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        digest.withUnsafeMutableBufferPointer { cssl_sha256_final(context, $0.baseAddress!) }
        return digest
    }
}
