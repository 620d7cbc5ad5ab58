import Synchronization

/// Answers kept for repeated identical requests, in this process: bounded by bytes, each for
/// `ttl`, least recently used out first.
///
/// Sixteen shards, each its own LRU under its own lock: loops serving the same tenant find each
/// other's answers (a per-loop cache would miss whenever a client's connection landed on the
/// other loop), and two loops contend only when their keys fall in one shard.
final class ExactCache: Sendable {
    /// What is replayed: a whole answer, or a stream's events as they came.
    enum Answer: Sendable {
        case whole(status: Int, contentType: String, body: [UInt8])
        /// Each event's bytes, and whether it is the final `choices: []` usage chunk (replayed
        /// only to clients that asked for usage).
        case stream([(raw: [UInt8], usageOnly: Bool)])

        var bytes: Int {
            switch self {
            case .whole(_, let type, let body): return body.count + type.utf8.count
            case .stream(let events): return events.reduce(0) { $0 + $1.raw.count + 16 }
            }
        }
    }

    struct Entry: Sendable {
        let answer: Answer
        let target: String
        let expiresMs: UInt64
    }

    final class Shard: Sendable {
        struct State {
            var entries: [CacheKey: (entry: Entry, tick: UInt64)] = [:]
            var bytes = 0
            var tick: UInt64 = 0
        }
        let state = Mutex(State())
    }

    let shards: [Shard]
    let shardBytes: Int
    let ttlMs: UInt64

    init(maximumBytes: Int, ttlMs: UInt64) {
        shards = (0..<16).map { _ in Shard() }
        shardBytes = max(1, maximumBytes / 16)
        self.ttlMs = ttlMs
    }

    func shard(_ key: CacheKey) -> Shard { shards[Int(key.digest[0] & 15)] }

    func get(_ key: CacheKey, nowMs: UInt64) -> Entry? {
        shard(key).state.withLock { s in
            guard let found = s.entries[key] else { return nil }
            guard found.entry.expiresMs > nowMs else {
                s.entries[key] = nil
                s.bytes -= found.entry.answer.bytes
                return nil
            }
            s.tick += 1
            s.entries[key] = (found.entry, s.tick)
            return found.entry
        }
    }

    func put(_ key: CacheKey, _ answer: Answer, target: String, nowMs: UInt64) {
        let size = answer.bytes
        guard size <= shardBytes / 4 else { return } // one answer never takes a shard
        let limit = shardBytes
        shard(key).state.withLock { s in
            if let old = s.entries.removeValue(forKey: key) { s.bytes -= old.entry.answer.bytes }
            s.tick += 1
            s.entries[key] = (Entry(answer: answer, target: target, expiresMs: nowMs + ttlMs), s.tick)
            s.bytes += size
            // Evicting scans the shard for its oldest entry: shards are small, evictions rare
            // next to hits, and no list has to be kept in step on every hit.
            while s.bytes > limit, let oldest = s.entries.min(by: { $0.value.tick < $1.value.tick }) {
                s.entries[oldest.key] = nil
                s.bytes -= oldest.value.entry.answer.bytes
            }
        }
    }

    var count: Int { shards.reduce(0) { total, shard in total + shard.state.withLock { $0.entries.count } } }
}
