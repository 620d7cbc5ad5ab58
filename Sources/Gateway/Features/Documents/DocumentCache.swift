import Logging
import Net
import Storage
import Synchronization

/// A read-through cache of documents' current versions (the JSON `GET /v1/documents/{id}`
/// answers), in Redis when `redis-url` is set — shared by every replica — or in this process
/// when the database is the embedded SQLite one (a single process by construction). With
/// PostgreSQL and no Redis it is off: a per-replica cache could not hear other replicas' writes.
///
/// **Never stale after an acknowledged write.** Entries are stamped with their version and only
/// ever replaced by a newer one (a compare-and-set script in Redis, the same comparison under a
/// lock in process), and a write updates the cache *before* it is acknowledged; a delete leaves
/// a tombstone no older version can overwrite. So a reader that loaded version 1 from the
/// database before a writer committed version 2 cannot put version 1 back after the writer's
/// update: its set loses the comparison. If the writer cannot reach Redis for that update, the
/// write is still acknowledged (it is committed) but this process stops using the cache and, as
/// soon as Redis answers again, bumps the cache's generation — a counter in every key — before
/// it reads or writes the cache again: everything cached before is then unreachable, for every
/// replica at once. (The window that remains: another replica that still reaches Redis while this
/// one cannot may serve the previous version until this one reconnects or the entry's TTL ends.)
///
/// One flight per key and loop on a miss: concurrent readers of one uncached document wait for
/// the first one's database read. Redis down: reads go to the database, counted in `/metrics`
/// (`aiwriter_document_cache_errors_total`); the client reconnects by itself.
final class DocumentCache: Sendable {
    /// A cached answer: the version and the document's JSON.
    struct Entry: Sendable {
        let version: Int64
        let json: [UInt8]
    }

    enum Backend: Sendable {
        case local(LocalDocumentCache)
        case redis(RedisSettings)
    }

    let backend: Backend
    let ttlMs: UInt64
    let logger: Logger
    let flightsKey = LoopLocalKey()
    let clientKey = LoopLocalKey()
    let hits = Atomic<Int>(0)
    let misses = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
    /// Set when a write could not update Redis: the cache is bypassed until the generation has
    /// been bumped.
    let dirty = Atomic<Bool>(false)
    let recovering = Atomic<Bool>(false)

    /// A version no document reaches: a deleted document's tombstone.
    static let tombstone = Int64.max

    init(backend: Backend, ttlMs: UInt64, logger: Logger) {
        self.backend = backend
        self.ttlMs = ttlMs
        self.logger = logger
    }

    // MARK: Reads

    /// The current version of a document: from the cache, else (one flight per key and loop)
    /// from `load`, which then fills the cache.
    func read(tenantID: String, id: Int64, on loop: EventLoop,
              load: @escaping (@escaping (Result<Document, StoreError>) -> Void) -> Void,
              _ done: @escaping (Result<Entry, StoreError>) -> Void) {
        let key = "\(tenantID):\(id)"
        lookup(key, on: loop) { [self] found, generation in
            if let found, found.version != DocumentCache.tombstone {
                hits.add(1, ordering: .relaxed)
                return done(.success(found))
            }
            misses.add(1, ordering: .relaxed)
            let flights = loop.local(for: flightsKey) { Flights() }
            if flights.waiting[key] != nil {
                flights.waiting[key]!.append(done)
                return
            }
            flights.waiting[key] = [done]
            load { [self] result in
                let waiters = flights.waiting.removeValue(forKey: key) ?? []
                let answer = result.map { DocumentCache.entry($0) }
                if case .success(let entry) = answer, let generation {
                    offer(key, entry, generation: generation, on: loop) { _ in }
                }
                for waiter in waiters { waiter(answer) }
            }
        }
    }

    /// Readers of one key waiting on one database read. Loop-owned (`LoopLocalKey`).
    final class Flights {
        var waiting: [String: [(Result<Entry, StoreError>) -> Void]] = [:]
    }

    static func entry(_ d: Document) -> Entry {
        var w = JSONWriter()
        DocumentJSON.write(d, into: &w)
        w.raw("\n")
        return Entry(version: d.version, json: w.bytes)
    }

    /// The cached entry and the generation it was read under (nil generation: do not fill).
    func lookup(_ key: String, on loop: EventLoop, _ done: @escaping (Entry?, String?) -> Void) {
        switch backend {
        case .local(let local):
            done(local.get(key, nowMs: loop.nowMilliseconds), "local")
        case .redis:
            guard usable(on: loop) else { return done(nil, nil) }
            client(on: loop).evaluate(DocumentCache.get, ["1", DocumentCache.generationKey, key]) { [self] result in
                guard case .success(.array(let items)) = result, items.count == 3, case .string(let g) = items[0] else {
                    errors.add(1, ordering: .relaxed)
                    return done(nil, nil)
                }
                let generation = String(decoding: g, as: UTF8.self)
                guard let version = items[1].integer, case .string(let json) = items[2] else { return done(nil, generation) }
                done(Entry(version: version, json: json), generation)
            }
        }
    }

    // MARK: Writes

    /// After a committed write (or restore): the new version replaces any older one. `done`
    /// runs once the cache has it (or has been given up on), so the write is acknowledged after.
    func stored(_ d: Document, on loop: EventLoop, _ done: @escaping () -> Void) {
        put("\(d.tenantID):\(d.id)", DocumentCache.entry(d), on: loop, done)
    }

    /// After a delete: a tombstone no older version can overwrite.
    func deleted(tenantID: String, id: Int64, on loop: EventLoop, _ done: @escaping () -> Void) {
        put("\(tenantID):\(id)", Entry(version: DocumentCache.tombstone, json: []), on: loop, done)
    }

    func put(_ key: String, _ entry: Entry, on loop: EventLoop, _ done: @escaping () -> Void) {
        guard usable(on: loop) else { return done() }
        offer(key, entry, generation: "", on: loop) { [self] ok in
            if !ok {
                // Not in the cache, so an older version may still be: stop trusting it.
                if !dirty.exchange(true, ordering: .relaxed) {
                    logger.warning("document cache: a write could not update Redis; the cache is bypassed until Redis answers")
                }
            }
            done()
        }
    }

    /// Compare-and-set: `entry` replaces the cached one only if newer, and (`generation` not
    /// empty) only if the generation is still the one the reader saw.
    func offer(_ key: String, _ entry: Entry, generation: String, on loop: EventLoop, _ done: @escaping (Bool) -> Void) {
        switch backend {
        case .local(let local):
            local.offer(key, entry, nowMs: loop.nowMilliseconds, ttlMs: ttlMs)
            done(true)
        case .redis:
            client(on: loop).evaluate(DocumentCache.offer, [Array("1".utf8), Array(DocumentCache.generationKey.utf8), Array(key.utf8),
                                                            Array(generation.utf8), Array(String(entry.version).utf8), entry.json,
                                                            Array(String(ttlMs).utf8)]) { [self] result in
                guard case .success(let reply) = result, reply.integer != nil else {
                    errors.add(1, ordering: .relaxed)
                    return done(false)
                }
                done(true)
            }
        }
    }

    // MARK: Redis

    static let generationKey = "aiw:doc:gen"
    /// KEYS[1] the generation counter; ARGV[1] tenant:id → {generation, version, json}.
    static let get = RedisScript("""
        local g = redis.call('GET', KEYS[1]) or '0'
        local r = redis.call('HMGET', 'aiw:doc:' .. g .. ':' .. ARGV[1], 'v', 'j')
        return {g, r[1], r[2]}
        """)
    /// ARGV: tenant:id, the generation the reader saw ('' for a writer: the current one),
    /// version, json, ttl ms → 1 stored, 0 refused (older, or another generation).
    static let offer = RedisScript("""
        local g = redis.call('GET', KEYS[1]) or '0'
        if ARGV[2] ~= '' and ARGV[2] ~= g then return 0 end
        local k = 'aiw:doc:' .. g .. ':' .. ARGV[1]
        local cur = redis.call('HGET', k, 'v')
        if cur and tonumber(cur) >= tonumber(ARGV[3]) then return 0 end
        redis.call('HSET', k, 'v', ARGV[3], 'j', ARGV[4])
        redis.call('PEXPIRE', k, ARGV[5])
        return 1
        """)

    func client(on loop: EventLoop) -> RedisClient {
        guard case .redis(let settings) = backend else { preconditionFailure("no Redis") }
        return loop.local(for: clientKey) { RedisClient(loop: loop, settings: settings) }
    }

    /// Whether the cache may be used now; while dirty, one caller at a time tries to bump the
    /// generation (and so clean it for every replica).
    func usable(on loop: EventLoop) -> Bool {
        guard dirty.load(ordering: .relaxed) else { return true }
        if !recovering.exchange(true, ordering: .relaxed) {
            client(on: loop).send(["INCR", DocumentCache.generationKey]) { [self] result in
                if case .success(.integer) = result {
                    dirty.store(false, ordering: .relaxed)
                    logger.info("document cache: Redis answers again; generation bumped, cache in use")
                }
                recovering.store(false, ordering: .relaxed)
            }
        }
        return false
    }

    func writeMetrics(into text: inout PrometheusText) {
        text.single("aiwriter_document_cache_hits_total", .counter, "Document reads answered from the cache.", String(hits.load(ordering: .relaxed)))
        text.single("aiwriter_document_cache_misses_total", .counter, "Document reads that went to the database.", String(misses.load(ordering: .relaxed)))
        text.single("aiwriter_document_cache_errors_total", .counter, "Cache operations that failed (Redis down): the read went to the database.",
                    String(errors.load(ordering: .relaxed)))
    }
}

/// The document cache in this process: versioned entries under one lock, least recently used
/// out first past `maximumBytes`, each for its TTL.
final class LocalDocumentCache: Sendable {
    struct State {
        var entries: [String: (entry: DocumentCache.Entry, expiresMs: UInt64, tick: UInt64)] = [:]
        var bytes = 0
        var tick: UInt64 = 0
    }
    let state = Mutex(State())
    let maximumBytes: Int

    init(maximumBytes: Int) { self.maximumBytes = maximumBytes }

    func get(_ key: String, nowMs: UInt64) -> DocumentCache.Entry? {
        state.withLock { s in
            guard let found = s.entries[key], found.expiresMs > nowMs else { return nil }
            s.tick += 1
            s.entries[key]!.tick = s.tick
            return found.entry
        }
    }

    func offer(_ key: String, _ entry: DocumentCache.Entry, nowMs: UInt64, ttlMs: UInt64) {
        let size = entry.json.count + key.utf8.count + 48
        guard size <= maximumBytes / 8 else { return }
        state.withLock { s in
            if let old = s.entries[key] {
                // Only a newer version replaces one still live (an expired one is just gone).
                if old.expiresMs > nowMs, old.entry.version >= entry.version { return }
                s.bytes -= old.entry.json.count + key.utf8.count + 48
            }
            s.tick += 1
            s.entries[key] = (entry, nowMs + ttlMs, s.tick)
            s.bytes += size
            while s.bytes > maximumBytes, let oldest = s.entries.min(by: { $0.value.tick < $1.value.tick }) {
                s.entries[oldest.key] = nil
                s.bytes -= oldest.value.entry.json.count + oldest.key.utf8.count + 48
            }
        }
    }
}
