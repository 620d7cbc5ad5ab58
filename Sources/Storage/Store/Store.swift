import Net
#if canImport(Glibc)
import Glibc
#endif

/// The gateway's storage API: tenants, keys, documents, collections and their records,
/// jobs and usage, on whichever `SQLBackend` the deployment runs.
///
/// Every operation validates its input first, runs as one atomic unit, and calls its
/// completion on the loop that asked. Nothing here blocks a loop.
public final class Store: Sendable {
    public let backend: any SQLBackend
    public var dialect: SQLDialect { backend.dialect }

    public init(backend: any SQLBackend) {
        self.backend = backend
    }

    /// This store, its reads seeing every write up to `position` (a client's read-your-writes
    /// token, `X-AIWriter-Read-After`); itself when every read already does (no standby).
    /// Two small objects for a request that carries a token, nothing for one that does not.
    public func reading(after position: WALPosition) -> Store {
        backend.servesReadsFromStandby ? Store(backend: ReadAfterBackend(base: backend, position: position)) : self
    }

    /// This store, its reads on the primary: for a read whose answer a write in the same
    /// request is compared with (a read-modify-write under If-Match).
    public var readingPrimary: Store { reading(after: .newest) }

    /// The token for a client that has just seen a write acknowledged on `loop`: nil when reads
    /// cannot lag writes (no standby) or the loop has committed nothing yet.
    public func commitPosition(on loop: EventLoop) -> WALPosition? { backend.commitPosition(on: loop) }

    /// Milliseconds since the Unix epoch: the schema's time unit on both backends.
    public static var now: Int64 {
        var t = timespec()
        clock_gettime(CLOCK_REALTIME, &t)
        return Int64(t.tv_sec) * 1000 + Int64(t.tv_nsec) / 1_000_000
    }

    /// Runs a unit and maps its results; mapping errors become the operation's error.
    func unit<T>(_ statements: [Statement], readOnly: Bool = false, on loop: EventLoop,
                 _ done: @escaping (Result<T, StoreError>) -> Void,
                 map: @escaping ([SQLResult]) throws(StoreError) -> T) {
        backend.run(statements, readOnly: readOnly, on: loop) { result in
            switch result {
            case .failure(let error): done(.failure(error))
            case .success(let results):
                do throws(StoreError) { done(.success(try map(results))) }
                catch { done(.failure(error)) }
            }
        }
    }

    /// Runs `check` and reports its error through `done` instead of throwing.
    @inline(__always)
    func validate<T>(_ done: (Result<T, StoreError>) -> Void, _ check: () throws(StoreError) -> Void) -> Bool {
        do throws(StoreError) {
            try check()
            return true
        } catch {
            done(.failure(error))
            return false
        }
    }

    // MARK: Tenants

    static let insertTenant = Query("tenant_insert", "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)", parameters: 3)
    static let selectTenant = Query("tenant_select", "SELECT id, name, created_at FROM tenants WHERE id = $1", parameters: 1)

    public func createTenant(id: String, name: String, on loop: EventLoop, _ done: @escaping (Result<Tenant, StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in
            try Validation.tenantID(id)
            try Validation.identifier(name, "tenant name", maximumBytes: Validation.maximumNameBytes)
        }) else { return }
        let now = Store.now
        unit([Store.insertTenant(.text(id), .text(name), .integer(now))], on: loop, done) { _ in
            Tenant(id: id, name: name, createdAt: now)
        }
    }

    public func tenant(id: String, on loop: EventLoop, _ done: @escaping (Result<Tenant, StoreError>) -> Void) {
        unit([Store.selectTenant(.text(id))], readOnly: true, on: loop, done) { results throws(StoreError) in
            guard let row = results[0].rows.first else { throw .notFound("tenant \(Validation.quoted(id))") }
            return Tenant(id: try row.text(0), name: try row.text(1), createdAt: try row.integer(2))
        }
    }

    // MARK: API keys

    static let keyColumns = "id, tenant_id, name, hash, role, rate_per_second, burst, tokens_per_minute, created_at, revoked_at"
    static let insertKey = Query("key_insert", """
        INSERT INTO api_keys (id, tenant_id, name, hash, role, rate_per_second, burst, tokens_per_minute, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        """, parameters: 9)
    static let selectKeyByHash = Query("key_by_hash", "SELECT \(keyColumns) FROM api_keys WHERE hash = $1", parameters: 1)
    static let selectKeys = Query("key_list", "SELECT \(keyColumns) FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id", parameters: 1)
    static let selectAllKeys = Query("key_list_all", "SELECT \(keyColumns) FROM api_keys ORDER BY tenant_id, created_at, id", parameters: 0)
    static let revokeKey = Query("key_revoke", """
        UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE tenant_id = $1 AND id = $2 RETURNING \(keyColumns)
        """, parameters: 3)
    static let revokedSince = Query("key_revoked_since", "SELECT hash FROM api_keys WHERE revoked_at >= $1", parameters: 1)

    public func createKey(_ key: APIKeyRecord, on loop: EventLoop, _ done: @escaping (Result<APIKeyRecord, StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in
            try Validation.tenantID(key.tenantID)
            try Validation.identifier(key.id, "key id", maximumBytes: 64)
            try Validation.identifier(key.name, "key name", maximumBytes: Validation.maximumNameBytes)
            guard key.hash.count == 32 else { throw .invalid("a key hash is 32 bytes (SHA-256)") }
            if let rate = key.ratePerSecond, !(rate > 0 && rate.isFinite) { throw .invalid("rate must be a positive number") }
            if let burst = key.burst, burst < 1 { throw .invalid("burst must be at least 1") }
            if let tokens = key.tokensPerMinute, tokens < 1 { throw .invalid("tokens per minute must be at least 1") }
        }) else { return }
        var stored = key
        stored.createdAt = Store.now
        stored.revokedAt = nil
        let statement = Store.insertKey(
            .text(key.id), .text(key.tenantID), .text(key.name), .blob(key.hash), .text(key.role.rawValue),
            key.ratePerSecond.map { .real($0) } ?? .null, key.burst.map { .integer($0) } ?? .null,
            key.tokensPerMinute.map { .integer($0) } ?? .null, .integer(stored.createdAt))
        unit([statement], on: loop, done) { _ in stored }
    }

    /// The key whose secret hashes to `hash`, revoked or not (the caller decides).
    public func key(hash: [UInt8], on loop: EventLoop, _ done: @escaping (Result<APIKeyRecord?, StoreError>) -> Void) {
        unit([Store.selectKeyByHash(.blob(hash))], readOnly: true, on: loop, done) { results throws(StoreError) in
            try results[0].rows.first.map(Store.apiKey)
        }
    }

    /// A tenant's keys, or every key when `tenantID` is nil (operators' CLI).
    public func keys(tenantID: String?, on loop: EventLoop, _ done: @escaping (Result<[APIKeyRecord], StoreError>) -> Void) {
        let statement = tenantID.map { Store.selectKeys(.text($0)) } ?? Store.selectAllKeys()
        unit([statement], readOnly: true, on: loop, done) { results throws(StoreError) in
            try results[0].rows.map(Store.apiKey)
        }
    }

    public func revokeKey(tenantID: String, id: String, on loop: EventLoop, _ done: @escaping (Result<APIKeyRecord, StoreError>) -> Void) {
        unit([Store.revokeKey(.text(tenantID), .text(id), .integer(Store.now))], on: loop, done) { results throws(StoreError) in
            guard let row = results[0].rows.first else { throw .notFound("key \(Validation.quoted(id))") }
            return try Store.apiKey(row)
        }
    }

    /// Hashes of keys revoked at or after `since` (ms): how replicas drop cached keys.
    public func revokedKeyHashes(since: Int64, on loop: EventLoop, _ done: @escaping (Result<[[UInt8]], StoreError>) -> Void) {
        unit([Store.revokedSince(.integer(since))], readOnly: true, on: loop, done) { results throws(StoreError) in
            try results[0].rows.map { row throws(StoreError) in try row.blob(0) }
        }
    }

    static func apiKey(_ row: [SQLValue]) throws(StoreError) -> APIKeyRecord {
        guard let role = Role(rawValue: try row.text(4)) else { throw .internalError("unknown role in api_keys") }
        return APIKeyRecord(id: try row.text(0), tenantID: try row.text(1), name: try row.text(2), hash: try row.blob(3),
                            role: role, ratePerSecond: row[5].double, burst: row[6].int, tokensPerMinute: row[7].int,
                            createdAt: try row.integer(8), revokedAt: row[9].int)
    }

    // MARK: Health

    static let ping = Query("ping", "SELECT 1", parameters: 0)

    /// One round trip to the database (`/readyz`).
    public func ping(on loop: EventLoop, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        unit([Store.ping()], readOnly: true, on: loop, done) { _ in () }
    }

    // MARK: Usage

    static let insertUsage = Query("usage_insert", """
        INSERT INTO usage (tenant_id, key_id, route, prompt_tokens, completion_tokens, at, model, target, status, latency_ms, cache)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        """, parameters: 11)
    /// Per key, model and UTC day; `$4` narrows to one key when not null. Raw rows and the
    /// days already rolled up into `usage_daily` (a rolled-up day counts whole once its start is
    /// within a day of `$2`).
    static let usageSummary = Query("usage_summary", postgres: """
        SELECT day, key_id, model, sum(requests)::bigint, sum(prompt_tokens)::bigint, sum(completion_tokens)::bigint,
               sum(cache_hits)::bigint, sum(errors)::bigint
        FROM (SELECT at / 86400000 AS day, key_id, model, count(*) AS requests, COALESCE(sum(prompt_tokens), 0) AS prompt_tokens,
                     COALESCE(sum(completion_tokens), 0) AS completion_tokens, count(*) FILTER (WHERE cache IN ('hit', 'semantic')) AS cache_hits,
                     count(*) FILTER (WHERE status >= 400) AS errors
              FROM usage WHERE tenant_id = $1 AND at >= $2::bigint AND at < $3::bigint AND ($4::text IS NULL OR key_id = $4)
              GROUP BY 1, 2, 3
              UNION ALL
              SELECT day, NULLIF(key_id, ''), NULLIF(model, ''), requests, prompt_tokens, completion_tokens, cache_hits, errors
              FROM usage_daily WHERE tenant_id = $1 AND day * 86400000 > $2::bigint - 86400000 AND day * 86400000 < $3::bigint
                    AND ($4::text IS NULL OR key_id = $4)) u
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 LIMIT 10000
        """, sqlite: """
        SELECT day, key_id, model, sum(requests), sum(prompt_tokens), sum(completion_tokens), sum(cache_hits), sum(errors)
        FROM (SELECT at / 86400000 AS day, key_id, model, count(*) AS requests, COALESCE(sum(prompt_tokens), 0) AS prompt_tokens,
                     COALESCE(sum(completion_tokens), 0) AS completion_tokens, count(CASE WHEN cache IN ('hit', 'semantic') THEN 1 END) AS cache_hits,
                     count(CASE WHEN status >= 400 THEN 1 END) AS errors
              FROM usage WHERE tenant_id = $1 AND at >= $2 AND at < $3 AND ($4 IS NULL OR key_id = $4)
              GROUP BY 1, 2, 3
              UNION ALL
              SELECT day, NULLIF(key_id, ''), NULLIF(model, ''), requests, prompt_tokens, completion_tokens, cache_hits, errors
              FROM usage_daily WHERE tenant_id = $1 AND day * 86400000 > $2 - 86400000 AND day * 86400000 < $3
                    AND ($4 IS NULL OR key_id = $4))
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 LIMIT 10000
        """, parameters: 4)
    // PostgreSQL's sum of bigint is numeric; SQLite's is an integer already.
    static let usageTotals = Query("usage_totals", postgres: """
        SELECT sum(n)::bigint, sum(p)::bigint, sum(c)::bigint FROM (
            SELECT count(*) AS n, COALESCE(sum(prompt_tokens), 0) AS p, COALESCE(sum(completion_tokens), 0) AS c
            FROM usage WHERE tenant_id = $1 AND at >= $2::bigint
            UNION ALL
            SELECT COALESCE(sum(requests), 0), COALESCE(sum(prompt_tokens), 0), COALESCE(sum(completion_tokens), 0)
            FROM usage_daily WHERE tenant_id = $1 AND day * 86400000 > $2::bigint - 86400000) u
        """, sqlite: """
        SELECT sum(n), sum(p), sum(c) FROM (
            SELECT count(*) AS n, COALESCE(sum(prompt_tokens), 0) AS p, COALESCE(sum(completion_tokens), 0) AS c
            FROM usage WHERE tenant_id = $1 AND at >= $2
            UNION ALL
            SELECT COALESCE(sum(requests), 0), COALESCE(sum(prompt_tokens), 0), COALESCE(sum(completion_tokens), 0)
            FROM usage_daily WHERE tenant_id = $1 AND day * 86400000 > $2 - 86400000)
        """, parameters: 2)

    /// Records several usage rows in one unit.
    public func recordUsage(_ rows: [UsageRow], on loop: EventLoop, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in
            for row in rows {
                try Validation.tenantID(row.tenantID)
                try Validation.identifier(row.route, "route", maximumBytes: Validation.maximumNameBytes)
                guard row.promptTokens >= 0, row.completionTokens >= 0 else { throw .invalid("token counts must not be negative") }
            }
        }) else { return }
        let statements = rows.map {
            Store.insertUsage(.text($0.tenantID), $0.keyID.map { .text($0) } ?? .null, .text($0.route),
                              .integer($0.promptTokens), .integer($0.completionTokens), .integer($0.at),
                              $0.model.map { .text($0) } ?? .null, $0.target.map { .text($0) } ?? .null,
                              .integer(Int64($0.status)), .integer($0.latencyMs), $0.cache.map { .text($0) } ?? .null)
        }
        unit(statements, on: loop, done) { _ in () }
    }

    /// The tenant's usage from `since` to before `until` (milliseconds), by UTC day, key and
    /// model; only `keyID`'s when given.
    public func usageSummary(tenantID: String, since: Int64, until: Int64, keyID: String?, on loop: EventLoop,
                             _ done: @escaping (Result<[UsageSummary], StoreError>) -> Void) {
        unit([Store.usageSummary(.text(tenantID), .integer(since), .integer(until), keyID.map { .text($0) } ?? .null)],
             readOnly: true, on: loop, done) { results throws(StoreError) in
            try results[0].rows.map { row throws(StoreError) in
                UsageSummary(day: try row.integer(0), keyID: row[1].string, model: row[2].string, requests: try row.integer(3),
                             promptTokens: try row.integer(4), completionTokens: try row.integer(5),
                             cacheHits: row[6].int ?? 0, errors: row[7].int ?? 0)
            }
        }
    }

    public func usageTotals(tenantID: String, since: Int64, on loop: EventLoop, _ done: @escaping (Result<UsageTotals, StoreError>) -> Void) {
        unit([Store.usageTotals(.text(tenantID), .integer(since))], readOnly: true, on: loop, done) { results throws(StoreError) in
            guard let row = results[0].rows.first else { throw .internalError("usage totals returned no row") }
            return UsageTotals(requests: try row.integer(0), promptTokens: try row.integer(1), completionTokens: try row.integer(2))
        }
    }
}

extension Array where Element == SQLValue {
    /// Typed column reads: a schema mismatch is an internal error, never a crash.
    func integer(_ i: Int) throws(StoreError) -> Int64 {
        guard i < count else { throw .internalError("missing column \(i)") }
        switch self[i] {
        case .integer(let v): return v
        case .real(let d) where d == d.rounded(): return Int64(d)
        case .text(let s): if let v = Int64(s) { return v }
        default: break
        }
        throw .internalError("column \(i) is not an integer")
    }

    func text(_ i: Int) throws(StoreError) -> String {
        guard i < count, let s = self[i].string else { throw .internalError("column \(i) is not text") }
        return s
    }

    func optionalText(_ i: Int) -> String? { i < count ? self[i].string : nil }

    func blob(_ i: Int) throws(StoreError) -> [UInt8] {
        guard i < count, let b = self[i].bytes else { throw .internalError("column \(i) is not a blob") }
        return b
    }

    func vector(_ i: Int) throws(StoreError) -> [Float] {
        guard let v = [Float](storageBytes: try blob(i)) else { throw .internalError("column \(i) is not a vector") }
        return v
    }
}
