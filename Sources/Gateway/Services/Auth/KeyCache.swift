import Net
import Storage

/// One loop's cache of keys by hash, so an authenticated request costs a dictionary lookup,
/// not a query. Unknown hashes are remembered briefly too (a client retrying a bad key does
/// not reach the database each time). Revocations evict entries on every loop within a second
/// (see `KeyRevocationWatcher`). Loop thread only.
final class KeyCache {
    /// A class: a lookup on the request path costs one retain, not one per field of the key
    /// record inside.
    final class Entry {
        let key: APIKeyRecord?
        /// Built once per cache fill: the request path allocates nothing for it.
        let principal: Principal?
        let expiresAt: UInt64

        init(key: APIKeyRecord?, principal: Principal?, expiresAt: UInt64) {
            self.key = key
            self.principal = principal
            self.expiresAt = expiresAt
        }
    }

    static let positiveLifetimeMilliseconds: UInt64 = 60_000
    static let negativeLifetimeMilliseconds: UInt64 = 2_000
    static let capacity = 100_000

    private var entries: [KeyHash: Entry] = [:]
    /// SHA-256 of a presented secret, on the stack (see `Digests.sha256`: the EVP path allocated
    /// and freed its state on every request).
    func hash(_ bytes: UnsafeRawBufferPointer) -> KeyHash {
        var out = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        return withUnsafeMutableBytes(of: &out) { buffer in
            Digests.sha256(bytes, into: buffer.baseAddress!.assumingMemoryBound(to: UInt8.self))
            return KeyHash(UnsafeRawBufferPointer(buffer))
        }
    }
    /// Lookups waiting on the database, by hash: concurrent requests with one new key share a query.
    var inFlight: [KeyHash: [(Result<APIKeyRecord?, StoreError>) -> Void]] = [:]

    func lookup(_ hash: KeyHash, now: UInt64) -> Entry? {
        guard let entry = entries[hash] else { return nil }
        guard entry.expiresAt > now else {
            entries[hash] = nil
            return nil
        }
        return entry
    }

    func insert(_ hash: KeyHash, _ key: APIKeyRecord?, principal: Principal?, now: UInt64) {
        if entries.count >= KeyCache.capacity {
            // Crude but bounded: forget expired entries, then everything if that was not enough.
            entries = entries.filter { $0.value.expiresAt > now }
            if entries.count >= KeyCache.capacity { entries.removeAll(keepingCapacity: true) }
        }
        let lifetime = key == nil ? KeyCache.negativeLifetimeMilliseconds : KeyCache.positiveLifetimeMilliseconds
        entries[hash] = Entry(key: key, principal: principal, expiresAt: now + lifetime)
    }

    func evict(_ hash: KeyHash) { entries[hash] = nil }
}

/// A SHA-256 digest as four words: a dictionary key that needs no heap allocation and hashes fast.
struct KeyHash: Hashable, Sendable {
    var a: UInt64, b: UInt64, c: UInt64, d: UInt64

    init(_ digest: UnsafeRawBufferPointer) {
        a = digest.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
        b = digest.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        c = digest.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
        d = digest.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
    }

    init(_ digest: [UInt8]) {
        self = digest.withUnsafeBytes { KeyHash($0) }
    }

    var bytes: [UInt8] {
        withUnsafeBytes(of: self) { Array($0) }
    }
}
