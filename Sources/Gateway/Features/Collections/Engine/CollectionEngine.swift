import Foundation
import Logging
import Net
import Storage
import Synchronization
import VectorIndex

/// Keeps every collection's `LiveCollection` and keeps each one caught up with the rows:
///
/// - **load** (first use, or at start): the snapshot if it is this collection's and loads,
///   then the rows page by page in change order (without vectors when the snapshot has them),
///   reconciled label by label; anything unusable about a snapshot is logged and the rows
///   rebuild it — never a crash, never a lost record;
/// - **read-your-writes**: a write is acknowledged after its transaction commits and this
///   replica has applied the change log up to the write's sequence (`catchUp`);
/// - **other replicas**: each `collection-follow-interval` one query reads every collection's
///   sequence, and collections that moved catch up from the log (measured choice against
///   LISTEN/NOTIFY: `Benchmarks/RESULTS.md`, "Collections");
/// - **graph insertion** in the background on the worker pool, one batch at a time per
///   collection, while `fresh` keeps new records searchable;
/// - **snapshots** of changed indexes every `snapshot-interval` and on drain.
///
/// Lookups on the request path go through a per-loop cache (no lock); the shared registry
/// behind it is touched on a miss.
final class CollectionEngine: Sendable {
    let store: Store
    let configuration: CollectionsConfiguration
    let snapshotDirectory: String
    let logger: Logger
    private let registry = Mutex<[String: Slot]>([:])
    private let linker = BackgroundWorker(name: "aiw-index-linker")
    private let cacheKey = LoopLocalKey()

    private enum Slot {
        case loading(PendingLoad)
        case ready(LiveCollection)
    }

    /// Callers waiting for one collection's load.
    private final class PendingLoad: Sendable {
        private let state = Mutex<(result: Result<LiveCollection, CollectionError>?, waiters: [UnsafeContinuation<Result<LiveCollection, CollectionError>, Never>])>((nil, []))

        func wait() async -> Result<LiveCollection, CollectionError> {
            await withUnsafeContinuation { continuation in
                let ready = state.withLock { s -> Result<LiveCollection, CollectionError>? in
                    if let result = s.result { return result }
                    s.waiters.append(continuation)
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }

        func finish(_ result: Result<LiveCollection, CollectionError>) {
            let waiters = state.withLock { s in
                s.result = result
                defer { s.waiters = [] }
                return s.waiters
            }
            for waiter in waiters { waiter.resume(returning: result) }
        }
    }

    /// What one loop has resolved: by UUID, and by (tenant, database, name) for the native routes.
    private final class LoopCache {
        var byUUID: [String: LiveCollection] = [:]
        var byName: [String: LiveCollection] = [:]
    }

    init(store: Store, configuration: CollectionsConfiguration, dataDirectory: String, logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.snapshotDirectory = dataDirectory + "/snapshots"
        self.logger = logger
    }

    private func cache(_ loop: EventLoop) -> LoopCache {
        loop.local(for: cacheKey) { LoopCache() }
    }

    // MARK: Resolving

    /// The tenant's collection by UUID, already loaded on this loop: the query fast path.
    func cached(tenantID: String, database: String?, uuid: String, on loop: EventLoop) -> LiveCollection? {
        guard let live = cache(loop).byUUID[uuid], !live.dropped.load(ordering: .acquiring), live.tenantID == tenantID else { return nil }
        if let database, live.info.database != database { return nil }
        return live
    }

    func cached(tenantID: String, database: String, name: String, on loop: EventLoop) -> LiveCollection? {
        guard let live = cache(loop).byName[CollectionEngine.nameKey(tenantID, database, name)],
              !live.dropped.load(ordering: .acquiring), live.info.name == name else { return nil }
        return live
    }

    static func nameKey(_ tenantID: String, _ database: String, _ name: String) -> String {
        tenantID + "\u{1}" + database + "\u{1}" + name
    }

    /// The tenant's collection by UUID (and, when given, in that database): another tenant's
    /// or another database's is not found, on every route (Chroma #7462, #7588).
    func resolve(tenantID: String, database: String?, uuid: String, on loop: EventLoop) async throws(CollectionError) -> LiveCollection {
        if let live = cached(tenantID: tenantID, database: database, uuid: uuid, on: loop) { return live }
        let info: VectorCollection
        do { info = try await store.collection(tenantID: tenantID, uuid: uuid, on: loop) } catch { throw CollectionError(error) }
        if let database, info.database != database { throw .notFound("collection \"\(uuid)\" is not in database \"\(database.prefix(64))\"") }
        return try await live(for: info, on: loop)
    }

    func resolve(tenantID: String, database: String, name: String, on loop: EventLoop) async throws(CollectionError) -> LiveCollection {
        if let live = cached(tenantID: tenantID, database: database, name: name, on: loop) { return live }
        let info: VectorCollection
        do { info = try await store.collection(tenantID: tenantID, database: database, name: name, on: loop) } catch { throw CollectionError(error) }
        let live = try await live(for: info, on: loop)
        cache(loop).byName[CollectionEngine.nameKey(tenantID, database, name)] = live
        return live
    }

    /// The live side of a collection row, loading it on first use (one load however many ask).
    func live(for info: VectorCollection, on loop: EventLoop) async throws(CollectionError) -> LiveCollection {
        enum Step { case ready(LiveCollection), wait(PendingLoad), load(PendingLoad) }
        let step = registry.withLock { slots -> Step in
            switch slots[info.uuid] {
            case .ready(let live)?: return .ready(live)
            case .loading(let pending)?: return .wait(pending)
            case nil:
                let pending = PendingLoad()
                slots[info.uuid] = .loading(pending)
                return .load(pending)
            }
        }
        let result: Result<LiveCollection, CollectionError>
        switch step {
        case .ready(let live):
            live.refresh(info)
            result = .success(live)
        case .wait(let pending):
            result = await pending.wait()
        case .load(let pending):
            do throws(CollectionError) {
                result = .success(try await load(info, on: loop))
            } catch {
                result = .failure(error)
            }
            registry.withLock { slots in
                switch result {
                case .success(let live): slots[info.uuid] = .ready(live)
                case .failure: slots[info.uuid] = nil
                }
            }
            pending.finish(result)
        }
        let live = try result.get()
        cache(loop).byUUID[info.uuid] = live
        return live
    }

    /// Every loaded collection (for the follower, snapshots and metrics).
    var loaded: [LiveCollection] {
        registry.withLock { slots in slots.values.compactMap { if case .ready(let live) = $0 { live } else { nil } } }
    }

    /// Forgets a deleted collection and its snapshot; holders see `dropped` and re-resolve.
    func drop(uuid: String) {
        let live = registry.withLock { slots -> LiveCollection? in
            defer { slots[uuid] = nil }
            if case .ready(let live)? = slots[uuid] { return live }
            return nil
        }
        live?.dropped.store(true, ordering: .releasing)
        unlink(snapshotPath(uuid))
    }

    // MARK: Loading

    static let pageSize = 5_000

    private func load(_ info: VectorCollection, on loop: EventLoop) async throws(CollectionError) -> LiveCollection {
        let started = EventLoop.monotonicNanoseconds
        // The snapshot is read on a worker thread while this loop reads the rows' ids and
        // metadata: at 1M records the two took 1.2 s and 2 s one after the other.
        var snapshotResult: HNSWIndex??
        var snapshotArrived: (() -> Void)?
        // Without a snapshot file the rows are read once, with their vectors, below.
        if info.dimension != nil, access(snapshotPath(info.uuid), F_OK) == 0 {
            loop.submit({ [self] in loadSnapshot(info) }, completion: { graph in
                snapshotResult = .some(graph)
                snapshotArrived?()
            })
        } else {
            snapshotResult = .some(nil)
        }
        var summaries: [RecordSummary] = []
        var after: Int64 = 0
        do throws(StoreError) {
            // Stops early when the snapshot turned out unusable: the rows are read whole below.
            while true {
                if case .some(.none) = snapshotResult { break }
                let page = try await store.recordSummaries(in: info, after: after, limit: CollectionEngine.pageSize, on: loop)
                summaries.append(contentsOf: page)
                guard let last = page.last, page.count == CollectionEngine.pageSize else { break }
                after = last.sequence
            }
        } catch {
            throw CollectionError(error)
        }
        if snapshotResult == nil {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                if snapshotResult != nil { return continuation.resume() }
                snapshotArrived = { continuation.resume() }
            }
        }
        let snapshot = snapshotResult!
        let live = LiveCollection(info, graph: snapshot, applied: info.lastSequence)
        do throws(StoreError) {
            if snapshot != nil {
                live.load(summaries)
                summaries = []
                let missing = live.reconcileWithGraph()
                var start = 0
                while start < missing.count {
                    let ids = Array(missing[start..<min(missing.count, start + 1_000)])
                    for record in try await store.records(ids: ids, in: info, on: loop) {
                        live.load(RecordSummary(id: record.id, metadata: record.metadata, document: record.document, sequence: record.sequence),
                                  vector: record.vector)
                    }
                    start += 1_000
                }
                if !missing.isEmpty {
                    logger.info("collection snapshot was behind the rows; added what it lacked",
                                metadata: ["collection": .string(info.uuid), "records": .stringConvertible(missing.count)])
                }
            } else {
                summaries = []
                after = 0
                while true {
                    let page = try await store.records(in: info, after: after, limit: CollectionEngine.pageSize, on: loop)
                    for record in page {
                        live.load(RecordSummary(id: record.id, metadata: record.metadata, document: record.document, sequence: record.sequence),
                                  vector: record.vector)
                    }
                    guard let last = page.last, page.count == CollectionEngine.pageSize else { break }
                    after = last.sequence
                }
            }
        } catch {
            throw CollectionError(error)
        }
        try await catchUp(live, to: info.lastSequence, on: loop)
        scheduleInsertion(live, on: loop)
        logger.info("collection loaded", metadata: [
            "collection": .string(info.uuid), "records": .stringConvertible(live.count),
            "from_snapshot": .stringConvertible(snapshot != nil),
            "ms": .stringConvertible((EventLoop.monotonicNanoseconds - started) / 1_000_000),
        ])
        return live
    }

    // MARK: Catching up

    /// Applies the change log until `sequence` (or its current end), reading the primary so
    /// a write just acknowledged is never missed behind a lagging replica.
    func catchUp(_ live: LiveCollection, to sequence: Int64, on loop: EventLoop) async throws(CollectionError) {
        while live.applied < sequence, !live.dropped.load(ordering: .acquiring) {
            // Several catch-ups of one collection may be in flight (a write's, the follower's):
            // each judges the log against the position it read from; `apply` skips what
            // another one has applied meanwhile.
            let after = live.applied
            let changes: [Change]
            do {
                changes = try await store.changes(in: live.info, after: after, limit: 10_000, consistent: true, on: loop)
            } catch {
                throw CollectionError(error)
            }
            guard let first = changes.first else { break }
            // The log is gap-free, so a gap means it was trimmed past this index: reload.
            guard first.sequence == after + 1 else {
                logger.info("collection fell behind its trimmed change log; reloading from the rows",
                            metadata: ["collection": .string(live.uuid), "applied": .stringConvertible(after),
                                       "log_starts_at": .stringConvertible(first.sequence)])
                _ = try await reload(live, on: loop)
                return
            }
            live.apply(changes)
        }
        scheduleInsertion(live, on: loop)
    }

    /// Replaces a collection's index with one loaded afresh from the rows; holders of the old
    /// one see it dropped and resolve the new one.
    func reload(_ old: LiveCollection, on loop: EventLoop) async throws(CollectionError) -> LiveCollection {
        let info: VectorCollection
        do { info = try await store.collection(tenantID: old.tenantID, uuid: old.uuid, on: loop) } catch { throw CollectionError(error) }
        registry.withLock { slots in
            if case .ready(let current)? = slots[old.uuid], current === old { slots[old.uuid] = nil }
        }
        old.dropped.store(true, ordering: .releasing)
        return try await live(for: info, on: loop)
    }

    // MARK: Graph maintenance

    static let insertionBatch = 2_048
    /// Removed vectors a graph may hold (as a fraction of its slots) before it is rebuilt
    /// from its live ones: past this, searches walk more dead nodes than the slots' reuse
    /// by later inserts wins back.
    static let rebuildTombstoneFraction = 0.3
    static let rebuildMinimumSlots = 1_024

    /// Starts linking fresh records into the graph unless that is already going on.
    func scheduleInsertion(_ live: LiveCollection, on loop: EventLoop) {
        guard live.pendingCount > 0 || live.needsRebuild,
              live.inserting.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        maintenanceRound(live, on: loop)
    }

    /// One job on the linker thread: a rebuild when tombstones call for it, otherwise a batch
    /// of fresh records linked. Linking is background work on one low-priority thread:
    /// requests (writes included) keep their cores, and the records are searchable meanwhile.
    private func maintenanceRound(_ live: LiveCollection, on loop: EventLoop) {
        guard !live.dropped.load(ordering: .acquiring), live.pendingCount > 0 || live.needsRebuild else {
            live.inserting.store(false, ordering: .releasing)
            // An apply between the check and the store above found `inserting` set.
            if (live.pendingCount > 0 || live.needsRebuild) && !live.dropped.load(ordering: .acquiring) { scheduleInsertion(live, on: loop) }
            return
        }
        linker.run({ () -> Result<String, VectorIndexError> in
            if live.needsRebuild { return live.rebuildGraph().map { "rebuilt from \($0) live vectors" } }
            return live.linkFresh(limit: CollectionEngine.insertionBatch).map { _ in "" }
        }, completion: { [self] outcome in
            switch outcome {
            case .success(let note):
                if !note.isEmpty { logger.info("collection graph \(note)", metadata: ["collection": .string(live.uuid)]) }
                maintenanceRound(live, on: loop)
            case .failure(let error):
                logger.error("graph maintenance failed; records stay searchable exactly",
                             metadata: ["collection": .string(live.uuid), "error": .string("\(error)")])
                live.inserting.store(false, ordering: .releasing)
            }
        }, on: loop)
    }

    // MARK: Trimming the change log

    /// Keeps each loaded collection's log to `change-log-retention` changes: a replica that
    /// fell further behind does not replay but reloads from the rows (it sees the gap at the
    /// start of its next read).
    func trimChangeLogs(on loop: EventLoop, then done: @escaping () -> Void = {}) {
        let retained = configuration.retainedChanges
        let due = loaded.filter { $0.applied > retained }
        var remaining = due.count
        if remaining == 0 { return done() }
        for live in due {
            store.trimChanges(in: live.info, through: live.applied - retained, on: loop) { _ in
                remaining -= 1
                if remaining == 0 { done() }
            }
        }
    }

    // MARK: Following other replicas

    /// Polls every collection's sequence on `loop` and catches up the loaded ones that moved;
    /// drops those deleted elsewhere.
    func startFollowing(on loop: EventLoop) {
        loop.execute { [self] in
            var polling = false
            func poll() {
                guard !polling else { return }
                polling = true
                store.allCollections(on: loop) { [self] result in
                    polling = false
                    guard case .success(let rows) = result else { return }
                    var byUUID: [String: VectorCollection] = [:]
                    for row in rows { byUUID[row.uuid] = row }
                    for live in loaded {
                        guard let row = byUUID[live.uuid] else {
                            drop(uuid: live.uuid)
                            continue
                        }
                        if row != live.info { live.refresh(row) }
                        if row.lastSequence > live.applied {
                            loop.spawn { [self] in try? await catchUp(live, to: row.lastSequence, on: loop) }
                        }
                    }
                }
            }
            func arm() {
                _ = loop.schedule(afterMilliseconds: configuration.followIntervalMs) {
                    poll()
                    arm()
                }
            }
            arm()
        }
    }

    /// Loads every collection in the background at start, so the first query after a restart
    /// finds its index ready.
    func preload(on loop: EventLoop) {
        loop.spawn { [self] in
            guard let rows = try? await store.allCollections(on: loop) else { return }
            for info in rows { _ = try? await live(for: info, on: loop) }
        }
    }

    // MARK: Snapshots

    func snapshotPath(_ uuid: String) -> String { snapshotDirectory + "/" + uuid + ".hnsw" }

    /// 64 bits naming the collection inside its snapshot file (FNV-1a of the UUID).
    static func snapshotTag(_ uuid: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in uuid.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }

    /// The collection's snapshot, or nil (logged) when there is none or it is unusable.
    func loadSnapshot(_ info: VectorCollection) -> HNSWIndex? {
        let path = snapshotPath(info.uuid)
        guard access(path, F_OK) == 0 else { return nil }
        let graph: HNSWIndex
        do {
            graph = try HNSWIndex.load(from: path)
        } catch {
            logger.warning("collection snapshot unusable; rebuilding from the rows",
                           metadata: ["collection": .string(info.uuid), "error": .string("\(error)")])
            return nil
        }
        guard graph.snapshotTag == CollectionEngine.snapshotTag(info.uuid), graph.dimension == info.dimension,
              graph.metric == LiveCollection.metric(info.metric) else {
            logger.warning("collection snapshot belongs to another collection; rebuilding from the rows",
                           metadata: ["collection": .string(info.uuid), "path": .string(path)])
            return nil
        }
        return graph
    }

    /// Writes the snapshot of every changed collection; `blocking` on drain (the loops have
    /// stopped), otherwise one at a time on the worker pool.
    func writeSnapshots(on loop: EventLoop?) {
        let changed = loaded.filter { $0.changedSinceSnapshot && $0.graph != nil && !$0.dropped.load(ordering: .acquiring) }
        guard !changed.isEmpty else { return }
        mkdir(snapshotDirectory, 0o755)
        for live in changed {
            if let loop {
                loop.submit({ [self] in writeSnapshot(live) }, completion: { _ in })
            } else {
                _ = writeSnapshot(live)
            }
        }
    }

    @discardableResult
    private func writeSnapshot(_ live: LiveCollection) -> Bool {
        guard let graph = live.graph else { return false }
        live.markSnapshotWritten()
        do {
            try graph.save(to: snapshotPath(live.uuid), tag: CollectionEngine.snapshotTag(live.uuid))
            return true
        } catch {
            logger.warning("collection snapshot not written", metadata: ["collection": .string(live.uuid), "error": .string("\(error)")])
            return false
        }
    }

    func startSnapshots(on loop: EventLoop) {
        loop.execute { [self] in
            func arm() {
                _ = loop.schedule(afterMilliseconds: configuration.snapshotIntervalMs) { [self] in
                    writeSnapshots(on: loop)
                    trimChangeLogs(on: loop)
                    arm()
                }
            }
            arm()
        }
    }
}
