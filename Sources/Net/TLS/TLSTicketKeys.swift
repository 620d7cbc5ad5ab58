import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// Session-ticket keys for the whole process: one key seals new tickets, the others are still
/// accepted, so a key change never forces a full handshake on a client holding a ticket.
///
/// Without a key file the keys are this process's own, random and in memory: a current key and
/// the previous one, rotated on a timer. With one (`TLSTicketKeyFile`) every replica that reads
/// the same file resumes every other replica's sessions, and the file is the rotation.
final class TLSTicketKeys: @unchecked Sendable {
    // @unchecked: `keys` and `sealing` are guarded by `lock`.
    struct Key: Equatable {
        var name = [UInt8](repeating: 0, count: 16)
        var aes = [UInt8](repeating: 0, count: 32)
        var hmac = [UInt8](repeating: 0, count: 32)
    }

    static let shared = TLSTicketKeys()
    private var keys: [Key] = []
    /// Which of `keys` seals new tickets.
    private var sealing = 0
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    private init() {
        lock = .allocate(capacity: 1)
        pthread_rwlock_init(lock, nil)
        rotate()
    }

    static func random() -> Key {
        var k = Key()
        _ = k.name.withUnsafeMutableBytes { RAND_bytes($0.baseAddress, 16) }
        _ = k.aes.withUnsafeMutableBytes { RAND_bytes($0.baseAddress, 32) }
        _ = k.hmac.withUnsafeMutableBytes { RAND_bytes($0.baseAddress, 32) }
        return k
    }

    /// A new current key; the old current becomes the previous one.
    func rotate() {
        let fresh = TLSTicketKeys.random()
        pthread_rwlock_wrlock(lock)
        keys.insert(fresh, at: 0)
        if keys.count > 2 { keys.removeLast() }
        sealing = 0
        pthread_rwlock_unlock(lock)
    }

    /// The keys of a key file: from now on only these are accepted, and `sealing` seals.
    func replace(with loaded: [Key], sealing index: Int) {
        precondition(!loaded.isEmpty && loaded.indices.contains(index))
        pthread_rwlock_wrlock(lock)
        keys = loaded
        sealing = index
        pthread_rwlock_unlock(lock)
    }

    /// OpenSSL's ticket callback: 1 = use this key, 2 = accepted but renew, 0 = unknown key
    /// (full handshake), −1 = failure. An accepted ticket is always renewed: a TLS 1.3 client
    /// treats a ticket as single-use, and without a fresh one its next connection would need a
    /// full handshake (wrk, which keeps the session across reconnects, showed every other one).
    static let callback: cssl_ticket_cb = { _, name, iv, cipher, mac, enc in
        let me = TLSTicketKeys.shared
        pthread_rwlock_rdlock(me.lock)
        defer { pthread_rwlock_unlock(me.lock) }
        guard let name, let iv else { return -1 }
        if enc == 1 {
            let key = me.keys[me.sealing]
            for i in 0..<16 { name[i] = key.name[i] }
            return cssl_ticket_init(cipher, mac, key.aes, key.hmac, iv, 1)
        }
        for key in me.keys where (0..<16).allSatisfy({ name[$0] == key.name[$0] }) {
            return cssl_ticket_init(cipher, mac, key.aes, key.hmac, iv, 0) < 0 ? -1 : 2
        }
        return 0
    }
}
