import Net

/// The Store as straight-line `async` code: each call runs on `loop` (the task hops there if
/// it is elsewhere, and stays there after) and returns when the unit has completed, with the
/// same typed errors as the callback API beneath. A multi-step flow (claim a job → call a
/// model → store a version) reads top to bottom and touches loop-owned state without locks.
///
/// What it costs per call beside the callback form: `Benchmarks/RESULTS.md`, "async Store
/// calls". The request path's measured hot spots (the key lookup behind authentication) stay
/// on callbacks.
extension Store {
    @inline(__always)
    func onLoop<T>(_ loop: EventLoop, _ start: (@escaping (Result<T, StoreError>) -> Void) -> Void) async throws(StoreError) -> T {
        try await loop.awaiting(start)
    }

    // MARK: Tenants and keys

    public func createTenant(id: String, name: String, on loop: EventLoop) async throws(StoreError) -> Tenant {
        try await onLoop(loop) { createTenant(id: id, name: name, on: loop, $0) }
    }

    public func tenant(id: String, on loop: EventLoop) async throws(StoreError) -> Tenant {
        try await onLoop(loop) { tenant(id: id, on: loop, $0) }
    }

    public func createKey(_ key: APIKeyRecord, on loop: EventLoop) async throws(StoreError) -> APIKeyRecord {
        try await onLoop(loop) { createKey(key, on: loop, $0) }
    }

    public func key(hash: [UInt8], on loop: EventLoop) async throws(StoreError) -> APIKeyRecord? {
        try await onLoop(loop) { key(hash: hash, on: loop, $0) }
    }

    public func keys(tenantID: String?, on loop: EventLoop) async throws(StoreError) -> [APIKeyRecord] {
        try await onLoop(loop) { keys(tenantID: tenantID, on: loop, $0) }
    }

    public func revokeKey(tenantID: String, id: String, on loop: EventLoop) async throws(StoreError) -> APIKeyRecord {
        try await onLoop(loop) { revokeKey(tenantID: tenantID, id: id, on: loop, $0) }
    }

    public func revokedKeyHashes(since: Int64, on loop: EventLoop) async throws(StoreError) -> [[UInt8]] {
        try await onLoop(loop) { revokedKeyHashes(since: since, on: loop, $0) }
    }

    // MARK: Usage

    public func recordUsage(_ rows: [UsageRow], on loop: EventLoop) async throws(StoreError) {
        try await onLoop(loop) { recordUsage(rows, on: loop, $0) }
    }

    public func usageSummary(tenantID: String, since: Int64, until: Int64, keyID: String?, on loop: EventLoop) async throws(StoreError) -> [UsageSummary] {
        try await onLoop(loop) { usageSummary(tenantID: tenantID, since: since, until: until, keyID: keyID, on: loop, $0) }
    }

    public func usageTotals(tenantID: String, since: Int64, on loop: EventLoop) async throws(StoreError) -> UsageTotals {
        try await onLoop(loop) { usageTotals(tenantID: tenantID, since: since, on: loop, $0) }
    }

    // MARK: Documents

    public func createDocument(tenantID: String, title: String, body: String, metadata: String?, on loop: EventLoop) async throws(StoreError) -> Document {
        try await onLoop(loop) { createDocument(tenantID: tenantID, title: title, body: body, metadata: metadata, on: loop, $0) }
    }

    public func document(tenantID: String, id: Int64, on loop: EventLoop) async throws(StoreError) -> Document {
        try await onLoop(loop) { document(tenantID: tenantID, id: id, on: loop, $0) }
    }

    public func documents(tenantID: String, after: Int64?, limit: Int, on loop: EventLoop) async throws(StoreError) -> Page<Document> {
        try await onLoop(loop) { documents(tenantID: tenantID, after: after, limit: limit, on: loop, $0) }
    }

    public func updateDocument(tenantID: String, id: Int64, expectedVersion: Int64, title: String, body: String,
                               metadata: String?, on loop: EventLoop) async throws(StoreError) -> Document {
        try await onLoop(loop) {
            updateDocument(tenantID: tenantID, id: id, expectedVersion: expectedVersion, title: title, body: body, metadata: metadata, on: loop, $0)
        }
    }

    public func documentHistory(tenantID: String, id: Int64, on loop: EventLoop) async throws(StoreError) -> [DocumentVersion] {
        try await onLoop(loop) { documentHistory(tenantID: tenantID, id: id, on: loop, $0) }
    }

    public func deleteDocument(tenantID: String, id: Int64, on loop: EventLoop) async throws(StoreError) {
        try await onLoop(loop) { deleteDocument(tenantID: tenantID, id: id, on: loop, $0) }
    }

    // MARK: Collections and records

    public func createCollection(tenantID: String, name: String, dimension: Int, metric: CollectionMetric,
                                 m: Int = 16, efConstruction: Int = 200, on loop: EventLoop) async throws(StoreError) -> VectorCollection {
        try await onLoop(loop) {
            createCollection(tenantID: tenantID, name: name, dimension: dimension, metric: metric, m: m, efConstruction: efConstruction, on: loop, $0)
        }
    }

    public func createCollection(tenantID: String, _ spec: CollectionSpec, on loop: EventLoop) async throws(StoreError) -> VectorCollection {
        try await onLoop(loop) { createCollection(tenantID: tenantID, spec, on: loop, $0) }
    }

    public func collection(tenantID: String, database: String = CollectionDatabase.defaultName, name: String,
                           on loop: EventLoop) async throws(StoreError) -> VectorCollection {
        try await onLoop(loop) { collection(tenantID: tenantID, database: database, name: name, on: loop, $0) }
    }

    public func collection(tenantID: String, uuid: String, on loop: EventLoop) async throws(StoreError) -> VectorCollection {
        try await onLoop(loop) { collection(tenantID: tenantID, uuid: uuid, on: loop, $0) }
    }

    public func collections(tenantID: String, database: String = CollectionDatabase.defaultName, limit: Int = 10_000, offset: Int = 0,
                            on loop: EventLoop) async throws(StoreError) -> [VectorCollection] {
        try await onLoop(loop) { collections(tenantID: tenantID, database: database, limit: limit, offset: offset, on: loop, $0) }
    }

    public func countCollections(tenantID: String, database: String, on loop: EventLoop) async throws(StoreError) -> Int {
        try await onLoop(loop) { countCollections(tenantID: tenantID, database: database, on: loop, $0) }
    }

    @discardableResult
    public func deleteCollection(tenantID: String, database: String = CollectionDatabase.defaultName, name: String,
                                 on loop: EventLoop) async throws(StoreError) -> String {
        try await onLoop(loop) { deleteCollection(tenantID: tenantID, database: database, name: name, on: loop, $0) }
    }

    public func updateCollection(tenantID: String, uuid: String, name: String?, metadata: String?, efSearch: Int?,
                                 configuration: String? = nil, on loop: EventLoop) async throws(StoreError) -> VectorCollection {
        try await onLoop(loop) {
            updateCollection(tenantID: tenantID, uuid: uuid, name: name, metadata: metadata, efSearch: efSearch,
                             configuration: configuration, on: loop, $0)
        }
    }

    public func fixDimension(_ dimension: Int, of collection: VectorCollection, on loop: EventLoop) async throws(StoreError) -> Int {
        try await onLoop(loop) { fixDimension(dimension, of: collection, on: loop, $0) }
    }

    public func allCollections(on loop: EventLoop) async throws(StoreError) -> [VectorCollection] {
        try await onLoop(loop) { allCollections(on: loop, $0) }
    }

    public func createDatabase(tenantID: String, name: String, on loop: EventLoop) async throws(StoreError) -> CollectionDatabase {
        try await onLoop(loop) { createDatabase(tenantID: tenantID, name: name, on: loop, $0) }
    }

    public func database(tenantID: String, name: String, on loop: EventLoop) async throws(StoreError) -> CollectionDatabase {
        try await onLoop(loop) { database(tenantID: tenantID, name: name, on: loop, $0) }
    }

    public func databases(tenantID: String, on loop: EventLoop) async throws(StoreError) -> [CollectionDatabase] {
        try await onLoop(loop) { databases(tenantID: tenantID, on: loop, $0) }
    }

    public func deleteDatabase(tenantID: String, name: String, on loop: EventLoop) async throws(StoreError) {
        try await onLoop(loop) { deleteDatabase(tenantID: tenantID, name: name, on: loop, $0) }
    }

    public func upsertRecords(_ records: [RecordInput], into collection: VectorCollection, mode: WriteMode = .upsert,
                              on loop: EventLoop) async throws(StoreError) -> WriteReceipt {
        try await onLoop(loop) { upsertRecords(records, into: collection, mode: mode, on: loop, $0) }
    }

    public func deleteRecords(ids: [String], from collection: VectorCollection, on loop: EventLoop) async throws(StoreError) -> WriteReceipt {
        try await onLoop(loop) { deleteRecords(ids: ids, from: collection, on: loop, $0) }
    }

    public func records(ids: [String], in collection: VectorCollection, on loop: EventLoop) async throws(StoreError) -> [VectorRecord] {
        try await onLoop(loop) { records(ids: ids, in: collection, on: loop, $0) }
    }

    public func records(in collection: VectorCollection, after: Int64, limit: Int, on loop: EventLoop) async throws(StoreError) -> [VectorRecord] {
        try await onLoop(loop) { records(in: collection, after: after, limit: limit, on: loop, $0) }
    }

    public func recordSummaries(in collection: VectorCollection, after: Int64, limit: Int,
                                on loop: EventLoop) async throws(StoreError) -> [RecordSummary] {
        try await onLoop(loop) { recordSummaries(in: collection, after: after, limit: limit, on: loop, $0) }
    }

    public func changes(in collection: VectorCollection, after: Int64, limit: Int, consistent: Bool = false,
                        on loop: EventLoop) async throws(StoreError) -> [Change] {
        try await onLoop(loop) { changes(in: collection, after: after, limit: limit, consistent: consistent, on: loop, $0) }
    }

    // MARK: Jobs

    public func enqueueJob(tenantID: String, kind: String, payload: String, maxAttempts: Int = 3, runAfter: Int64? = nil,
                           idempotencyKey: String? = nil, requestHash: String? = nil,
                           on loop: EventLoop) async throws(StoreError) -> (job: Job, created: Bool) {
        try await onLoop(loop) {
            enqueueJob(tenantID: tenantID, kind: kind, payload: payload, maxAttempts: maxAttempts, runAfter: runAfter,
                       idempotencyKey: idempotencyKey, requestHash: requestHash, on: loop, $0)
        }
    }

    public func claimJob(kind: String, claim: String, leaseMilliseconds: Int64 = 300_000, on loop: EventLoop) async throws(StoreError) -> Job? {
        try await onLoop(loop) { claimJob(kind: kind, claim: claim, leaseMilliseconds: leaseMilliseconds, on: loop, $0) }
    }

    public func completeJob(id: Int64, claim: String, result: String, document: JobDocumentWrite? = nil, tenantID: String,
                            on loop: EventLoop) async throws(StoreError) -> (job: Job, document: Document?) {
        try await onLoop(loop) { completeJob(id: id, claim: claim, result: result, document: document, tenantID: tenantID, on: loop, $0) }
    }

    public func failJob(id: Int64, claim: String, error message: String, retryable: Bool = true, retryAfterMilliseconds: Int64 = 1000,
                        on loop: EventLoop) async throws(StoreError) -> Job {
        try await onLoop(loop) {
            failJob(id: id, claim: claim, error: message, retryable: retryable, retryAfterMilliseconds: retryAfterMilliseconds, on: loop, $0)
        }
    }

    public func job(tenantID: String, id: Int64, on loop: EventLoop) async throws(StoreError) -> Job {
        try await onLoop(loop) { job(tenantID: tenantID, id: id, on: loop, $0) }
    }
}
