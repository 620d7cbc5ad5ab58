import Net
import Storage

/// One loop's cache of keys by hash, so an authenticated request costs a dictionary lookup,
/// not a query. Unknown hashes are remembered briefly too (a client retrying a bad key does
/// not reach the database each time). Revocations evict entries on every loop within a second
/// (see `KeyRevocationWatcher`). Loop thread only.
final class KeyCache {
    struct Entry {
        let key: APIKeyRecord?
        let expiresAt: UInt64
    }

    static let positiveLifetimeMilliseconds: UInt64 = 60_000
    static let negativeLifetimeMilliseconds: UInt64 = 2_000
    static let capacity = 100_000

    private var entries: [[UInt8]: Entry] = [:]
    /// Lookups waiting on the database, by hash: concurrent requests with one new key share a query.
    var inFlight: [[UInt8]: [(Result<APIKeyRecord?, StoreError>) -> Void]] = [:]

    func lookup(_ hash: [UInt8], now: UInt64) -> Entry? {
        guard let entry = entries[hash] else { return nil }
        guard entry.expiresAt > now else {
            entries[hash] = nil
            return nil
        }
        return entry
    }

    func insert(_ hash: [UInt8], _ key: APIKeyRecord?, now: UInt64) {
        if entries.count >= KeyCache.capacity {
            // Crude but bounded: forget expired entries, then everything if that was not enough.
            entries = entries.filter { $0.value.expiresAt > now }
            if entries.count >= KeyCache.capacity { entries.removeAll(keepingCapacity: true) }
        }
        let lifetime = key == nil ? KeyCache.negativeLifetimeMilliseconds : KeyCache.positiveLifetimeMilliseconds
        entries[hash] = Entry(key: key, expiresAt: now + lifetime)
    }

    func evict(_ hash: [UInt8]) { entries[hash] = nil }
}
