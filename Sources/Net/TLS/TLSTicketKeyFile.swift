#if canImport(Glibc)
import Glibc
#endif

/// Session-ticket keys shared by every replica through one file (`tls-ticket-key-file`), so a
/// client resumes its TLS session on whichever replica the balancer hands it to.
///
/// The format: one key per line, 160 hexadecimal digits (80 random bytes — 16 of key name, 32 of
/// HMAC secret, 32 of AES-256 key, nginx's layout; `openssl rand -hex 80` makes one); blank lines
/// and `#` comments ignored; oldest first.
///
/// **Which key seals, and why not the newest.** Replicas notice a changed file a second or more
/// apart (or a mounted Secret reaches them minutes apart). If a replica sealed with a key the
/// moment it appeared, a client could carry that ticket to a replica that does not have the key
/// yet and pay a full handshake. So the newest key is only *accepted* at first; the one before
/// it seals (HAProxy's rule for its ticket-key files). Rotation is one step: append a fresh key
/// and drop the oldest. The key that now seals was accepted everywhere one rotation ago, and the
/// one that sealed before is still accepted, so no ticket issued within a rotation period is
/// refused. With a single key, it seals.
public enum TLSTicketKeyFile {
    /// The keys of `text`, oldest first, and which of them seals.
    static func parse(_ text: String) throws(TLSError) -> (keys: [TLSTicketKeys.Key], sealing: Int) {
        var keys: [TLSTicketKeys.Key] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(raw)
            while let c = line.first, c == " " || c == "\t" { line = line.dropFirst() }
            while let c = line.last, c == " " || c == "\t" || c == "\r" { line = line.dropLast() }
            if line.isEmpty || line.first == "#" { continue }
            guard let bytes = hexBytes(line), bytes.count == 80 else {
                throw TLSError("ticket key file line \(number + 1): expected 160 hexadecimal digits (80 bytes, `openssl rand -hex 80`)")
            }
            let key = TLSTicketKeys.Key(name: Array(bytes[0..<16]), aes: Array(bytes[48..<80]), hmac: Array(bytes[16..<48]))
            guard !keys.contains(where: { $0.name == key.name }) else {
                throw TLSError("ticket key file line \(number + 1): the same key name appears twice")
            }
            keys.append(key)
        }
        guard !keys.isEmpty else { throw TLSError("ticket key file has no keys") }
        guard keys.count <= 16 else { throw TLSError("ticket key file has \(keys.count) keys; keep at most 16 (each is tried on resumption)") }
        return (keys, max(0, keys.count - 2))
    }

    /// Reads and installs `path`'s keys for the whole process.
    public static func load(_ path: String) throws(TLSError) {
        let (keys, sealing) = try parse(try read(path))
        TLSTicketKeys.shared.replace(with: keys, sealing: sealing)
    }

    /// Watches `path` (checked on `loop`'s one-second tick by its modification time and size) and
    /// installs its keys when it changes. A file that stops parsing leaves the keys as they were
    /// and is reported through `failed` once per change.
    public static func watch(_ path: String, on loop: EventLoop, failed: @escaping (TLSError) -> Void) {
        var seen = stamp(path)
        loop.onTick {
            let now = stamp(path)
            guard now != seen else { return }
            seen = now
            do throws(TLSError) { try load(path) } catch { failed(error) }
        }
    }

    private static func stamp(_ path: String) -> [Int] {
        var st = stat()
        guard stat(path, &st) == 0 else { return [] }
        return [Int(st.st_mtim.tv_sec), Int(st.st_mtim.tv_nsec), Int(st.st_size), Int(st.st_ino)]
    }

    private static func read(_ path: String) throws(TLSError) -> String {
        guard let file = fopen(path, "r") else {
            throw TLSError("cannot read ticket key file \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
            if n < chunk.count { break }
            guard bytes.count <= 64 * 1024 else { throw TLSError("ticket key file \(path) is larger than 64 KiB") }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexBytes(_ text: Substring) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        func nibble(_ d: UInt8) -> UInt8? {
            switch d {
            case 0x30...0x39: return d - 0x30
            case 0x41...0x46: return d - 0x41 + 10
            case 0x61...0x66: return d - 0x61 + 10
            default: return nil
            }
        }
        var i = 0
        while i < digits.count {
            guard let high = nibble(digits[i]), let low = nibble(digits[i + 1]) else { return nil }
            out.append(high << 4 | low)
            i += 2
        }
        return out
    }
}
