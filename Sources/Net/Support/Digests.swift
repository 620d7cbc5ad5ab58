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
        return digest.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// 64 bits from getrandom(2).
    @inline(__always)
    public static func randomUInt64() -> UInt64 { UInt64(cuv_random_u64()) }
}
