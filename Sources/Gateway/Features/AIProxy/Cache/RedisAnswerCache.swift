import Net
import Storage

/// The exact cache in Redis (`ai-cache-store: redis`, or `auto` with `redis-url` set): every
/// replica answers from the answers any of them kept. Each answer is one string,
/// `aiw:ai:<hex of the key's digest>`, written with `SET … PX ttl`, so Redis expires it and its
/// `maxmemory` policy bounds the whole; an answer over a 64th of `ai-cache-max-bytes` is not
/// kept (one answer must not crowd out the rest).
///
/// Its own connection per loop, not the rate limiter's: a large answer in flight must not hold
/// up the limiter's decisions pipelined behind it. The value is a small binary record, not JSON:
/// decoding a cached stream of a thousand chunks must not parse a thousand JSON strings.
final class RedisAnswerCache: AnswerStore, Sendable {
    let settings: RedisSettings
    let ttlMs: UInt64
    let maximumAnswerBytes: Int
    let clientKey = LoopLocalKey()

    init(settings: RedisSettings, ttlMs: UInt64, maximumBytes: Int) {
        self.settings = settings
        self.ttlMs = ttlMs
        maximumAnswerBytes = max(1, maximumBytes / 64)
    }

    func client(on loop: EventLoop) -> RedisClient {
        loop.local(for: clientKey) { RedisClient(loop: loop, settings: settings) }
    }

    static func redisKey(_ key: CacheKey) -> [UInt8] {
        let digits = Array("0123456789abcdef".utf8)
        var out = Array("aiw:ai:".utf8)
        for b in key.digest { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return out
    }

    func get(_ key: CacheKey, on loop: EventLoop, _ done: @escaping (ExactCache.Entry?) -> Void) {
        client(on: loop).send([Array("GET".utf8), RedisAnswerCache.redisKey(key)]) { result in
            guard case .success(.string(let bytes)) = result else { return done(nil) }
            done(RedisAnswerCache.decode(bytes))
        }
    }

    func put(_ key: CacheKey, _ answer: ExactCache.Answer, target: String, on loop: EventLoop) {
        let value = RedisAnswerCache.encode(answer, target: target)
        guard value.count <= maximumAnswerBytes else { return }
        client(on: loop).send([Array("SET".utf8), RedisAnswerCache.redisKey(key), value, Array("PX".utf8), Array(String(ttlMs).utf8)]) { _ in }
    }

    // MARK: The record

    // version 1: u8 1, u16 target length, target,
    //   then u8 0 (whole), u16 status, u16 content-type length, content type, body to the end,
    //   or   u8 1 (stream), u32 events, per event: u8 usage-only, u32 length, bytes.

    static func encode(_ answer: ExactCache.Answer, target: String) -> [UInt8] {
        var out: [UInt8] = [1]
        func u16(_ v: Int) { out.append(UInt8(truncatingIfNeeded: v >> 8)); out.append(UInt8(truncatingIfNeeded: v)) }
        func u32(_ v: Int) { for shift in [24, 16, 8, 0] { out.append(UInt8(truncatingIfNeeded: v >> shift)) } }
        let t = Array(target.utf8.prefix(65_535))
        u16(t.count); out += t
        switch answer {
        case .whole(let status, let contentType, let body):
            out.append(0)
            u16(status)
            let c = Array(contentType.utf8.prefix(65_535))
            u16(c.count); out += c
            out += body
        case .stream(let events):
            out.append(1)
            u32(events.count)
            for event in events {
                out.append(event.usageOnly ? 1 : 0)
                u32(event.raw.count)
                out += event.raw
            }
        }
        return out
    }

    /// The entry a record holds; nil for anything malformed (another version, a cut value).
    static func decode(_ bytes: [UInt8]) -> ExactCache.Entry? {
        var i = 0
        func take(_ n: Int) -> ArraySlice<UInt8>? {
            guard n >= 0, bytes.count - i >= n else { return nil }
            defer { i += n }
            return bytes[i..<(i + n)]
        }
        func u16() -> Int? { take(2).map { Int($0.first!) << 8 | Int($0.last!) } }
        func u32() -> Int? { take(4).map { $0.reduce(0) { $0 << 8 | Int($1) } } }
        guard take(1) == [1], let tn = u16(), let t = take(tn), let shape = take(1)?.first else { return nil }
        let target = String(decoding: t, as: UTF8.self)
        switch shape {
        case 0:
            guard let status = u16(), let cn = u16(), let c = take(cn) else { return nil }
            return ExactCache.Entry(answer: .whole(status: status, contentType: String(decoding: c, as: UTF8.self), body: Array(bytes[i...])),
                                    target: target, expiresMs: .max)
        case 1:
            guard let count = u32(), count <= bytes.count else { return nil }
            var events: [(raw: [UInt8], usageOnly: Bool)] = []
            events.reserveCapacity(count)
            for _ in 0..<count {
                guard let flag = take(1)?.first, let n = u32(), let raw = take(n) else { return nil }
                events.append((Array(raw), flag == 1))
            }
            guard i == bytes.count else { return nil }
            return ExactCache.Entry(answer: .stream(events), target: target, expiresMs: .max)
        default:
            return nil
        }
    }
}
