import Net
import Storage
import VectorIndex

/// A batch of records as either surface sends it, in columns: `ids[i]` with `vectors[i]`,
/// `metadatas[i]`, `documents[i]`. A column is nil when the request left it out; an element
/// is nil when the request sent null for that record (which only `update` allows for vectors).
struct RecordBatch: Sendable {
    var ids: [String] = []
    var vectors: [[Float]?]?
    var metadatas: [JSONValue]?
    var documents: [String?]?
}

/// How a batch treats ids: `add` keeps a stored record (Chroma's behaviour, #7735), `upsert`
/// replaces it, `update` changes only the fields given of records that exist (a null
/// metadata value removes that key) and ignores ids that do not.
/// How a batch meets the records that exist: `add` keeps them, `upsert` and `update` merge into
/// them (Chroma's rules), `replace` overwrites them whole (the native API's upsert).
enum WriteKind: String, Sendable {
    case add, upsert, update, replace

    /// The word a client used for it.
    var verb: String { self == .replace ? "upsert" : rawValue }
}

/// What `get` and `query` return besides ids.
struct Include: OptionSet, Sendable {
    let rawValue: Int
    static let documents = Include(rawValue: 1)
    static let metadatas = Include(rawValue: 2)
    static let distances = Include(rawValue: 4)
    static let embeddings = Include(rawValue: 8)
    static let uris = Include(rawValue: 16)

    static let defaultGet: Include = [.documents, .metadatas]
    static let defaultQuery: Include = [.documents, .metadatas, .distances]

    static func parse(_ value: JSONValue?, default fallback: Include, allowDistances: Bool) throws(CollectionError) -> Include {
        guard let value, value != .null else { return fallback }
        guard case .array(let items) = value else { throw .invalid("include must be a list") }
        var include: Include = []
        for item in items {
            guard case .string(let name) = item else { throw .invalid("include holds names, not \(item.kindDescription)") }
            switch name {
            case "documents": include.insert(.documents)
            case "metadatas": include.insert(.metadatas)
            case "embeddings": include.insert(.embeddings)
            case "uris": include.insert(.uris)
            case "distances":
                guard allowDistances else { throw .invalid("include: distances only come with a query") }
                include.insert(.distances)
            default:
                throw .invalid("include: unknown value '\(name.prefix(32))' (expected documents, embeddings, metadatas, distances, uris)")
            }
        }
        return include
    }
}

/// One record of a `get` answer.
struct FoundRecord: Sendable {
    let id: String
    let entry: LiveCollection.Entry
    var vector: [Float]?
}

/// One neighbour of a `query` answer.
struct Neighbour: Sendable {
    let id: String
    let distance: Float
    let entry: LiveCollection.Entry
    var vector: [Float]?
}

/// The collections feature's operations, the same for the native and the Chroma routes: they
/// validate, write through the Store, wait for this replica's index to apply the write, and
/// read from the index. Each surface parses its own bodies into these inputs and writes its
/// own answers.
struct CollectionOperations: Sendable {
    let engine: CollectionEngine
    var store: Store { engine.store }
    var maxBatchSize: Int { engine.configuration.maxBatchSize }
    /// Query vectors per request and neighbours per query vector: bounds of one request's work.
    static let maximumQueries = 1_000
    static let maximumResults = 100_000

    // MARK: Collections

    /// Creates a collection; with `getOrCreate`, an existing one of that name is returned as
    /// it is (its metadata and configuration are not changed).
    func create(tenantID: String, _ spec: CollectionSpec, getOrCreate: Bool, on loop: EventLoop) async throws(CollectionError) -> VectorCollection {
        do {
            return try await store.createCollection(tenantID: tenantID, spec, on: loop)
        } catch .conflict(let message) {
            guard getOrCreate else { throw .conflict(message) }
            do { return try await store.collection(tenantID: tenantID, database: spec.database, name: spec.name, on: loop) } catch { throw CollectionError(error) }
        } catch {
            throw CollectionError(error)
        }
    }

    func delete(tenantID: String, database: String, name: String, on loop: EventLoop) async throws(CollectionError) {
        let uuid: String
        do { uuid = try await store.deleteCollection(tenantID: tenantID, database: database, name: name, on: loop) } catch { throw CollectionError(error) }
        engine.drop(uuid: uuid)
    }

    func modify(tenantID: String, uuid: String, name: String?, metadata: String?, efSearch: Int?, on loop: EventLoop) async throws(CollectionError) -> VectorCollection {
        let updated: VectorCollection
        do {
            updated = try await store.updateCollection(tenantID: tenantID, uuid: uuid, name: name, metadata: metadata, efSearch: efSearch, on: loop)
        } catch { throw CollectionError(error) }
        engine.cached(tenantID: tenantID, database: nil, uuid: uuid, on: loop)?.refresh(updated)
        return updated
    }

    // MARK: Writing

    /// Validates and stores a batch (all of it or nothing), then waits until this replica's
    /// index has applied it: the next query here sees it.
    func write(_ batch: RecordBatch, _ kind: WriteKind, into live: LiveCollection, on loop: EventLoop) async throws(CollectionError) -> WriteReceipt {
        let n = batch.ids.count
        guard n > 0 else { throw .invalid("ids must hold at least one id") }
        guard n <= maxBatchSize else {
            throw .batchTooLarge("a batch holds at most \(maxBatchSize) records (max_batch_size); this one has \(n)")
        }
        try CollectionOperations.checkIDs(batch.ids)
        if let vectors = batch.vectors, vectors.count != n { throw .invalid("embeddings has \(vectors.count) entries for \(n) ids") }
        if let metadatas = batch.metadatas, metadatas.count != n { throw .invalid("metadatas has \(metadatas.count) entries for \(n) ids") }
        if let documents = batch.documents, documents.count != n { throw .invalid("documents has \(documents.count) entries for \(n) ids") }
        if kind != .update {
            guard let vectors = batch.vectors else { throw .invalid("embeddings are required to \(kind.verb) records") }
            if let missing = vectors.firstIndex(where: { $0 == nil }) {
                throw .invalid("embeddings[\(missing)] is null; every record to \(kind.verb) needs an embedding")
            }
        }
        // The first write to a collection made without a dimension fixes it.
        var info = live.info
        if info.dimension == nil, let first = batch.vectors?.lazy.compactMap({ $0 }).first {
            do { info.dimension = try await store.fixDimension(first.count, of: info, on: loop) } catch { throw CollectionError(error) }
            live.refresh(info)
        }
        if let vectors = batch.vectors, let dimension = info.dimension {
            for (i, vector) in vectors.enumerated() {
                guard let vector else { continue }
                try CollectionOperations.checkVector(vector, dimension: dimension, metric: info.metric, at: "embeddings[\(i)]")
            }
        }
        if let documents = batch.documents {
            for (i, document) in documents.enumerated() where document?.utf8.contains(0) == true {
                throw .invalid("documents[\(i)] contains a NUL character")
            }
        }

        var inputs: [RecordInput] = []
        inputs.reserveCapacity(n)
        /// Record `i` of the batch as given, whole.
        func given(_ i: Int) throws(CollectionError) -> RecordInput {
            let metadata = try batch.metadatas.map { (m) throws(CollectionError) in try CollectionOperations.metadata(m[i], at: "metadatas[\(i)]") }
            return RecordInput(id: batch.ids[i], vector: batch.vectors![i]!, metadata: metadata??.json, document: batch.documents?[i])
        }
        switch kind {
        case .add, .replace:
            for i in 0..<n { inputs.append(try given(i)) }
        case .upsert, .update:
            // Chroma's rule for both: a record that exists is updated — its metadata merged key
            // by key (a null value removes the key), its document and embedding replaced only
            // when given; upsert adds the ones that do not exist, update skips them. (Read, then
            // written: of two concurrent merges into one record the later one wins.)
            let stored: [VectorRecord]
            do { stored = try await store.records(ids: batch.ids, in: info, on: loop) } catch { throw CollectionError(error) }
            var byID: [String: VectorRecord] = [:]
            for record in stored { byID[record.id] = record }
            for i in 0..<n {
                guard let old = byID[batch.ids[i]] else {
                    if kind == .upsert { inputs.append(try given(i)) }
                    continue
                }
                var metadata = Metadata.stored(old.metadata)
                if let patch = batch.metadatas?[i], patch != .null {
                    guard case .object(let object) = patch else { throw .invalid("metadatas[\(i)] must be an object or null") }
                    for key in object.keys {
                        guard !key.isEmpty, !key.hasPrefix("chroma:") else { throw .invalid("metadatas[\(i)] has a reserved or empty key") }
                        metadata.set(key, try MetadataValue.parse(object[key]!, at: "metadatas[\(i)].\(key.prefix(64))"))
                    }
                }
                inputs.append(RecordInput(id: old.id, vector: batch.vectors?[i] ?? old.vector, metadata: metadata.json,
                                          document: batch.documents?[i] ?? old.document))
            }
            if inputs.isEmpty { return WriteReceipt(count: 0, lastSequence: live.applied) }
        }
        let receipt: WriteReceipt
        do {
            receipt = try await store.upsertRecords(inputs, into: info, mode: kind == .add ? .insertOnly : .upsert, on: loop)
        } catch { throw CollectionError(error) }
        try await engine.catchUp(live, to: receipt.lastSequence, on: loop)
        return receipt
    }

    /// Deletes the records named by `ids` and/or matching `filter` (at most `limit` of the
    /// matches); returns how many existed.
    func deleteRecords(ids: [String]?, filter: RecordFilter?, limit: Int?, from live: LiveCollection, on loop: EventLoop) async throws(CollectionError) -> Int {
        guard ids != nil || filter != nil else { throw .invalid("delete needs ids, where or where_document") }
        if let ids {
            guard ids.count <= Validation.maximumBatch else { throw .batchTooLarge("a delete names at most \(Validation.maximumBatch) ids") }
            try CollectionOperations.checkIDs(ids, allowRepeats: true)
        }
        var targets: [String]
        if let filter {
            let restricted = ids.map { RecordFilter.all([.ids(Set($0)), filter]) } ?? filter
            targets = live.ids(matching: restricted, offset: 0, limit: limit ?? Int.max)
        } else {
            targets = ids ?? []
            if let limit { targets = Array(targets.prefix(limit)) }
        }
        guard !targets.isEmpty else { return 0 }
        var deleted = 0
        var start = 0
        // A filter may match more than one unit holds; each chunk is atomic.
        while start < targets.count {
            let chunk = Array(targets[start..<min(targets.count, start + Validation.maximumBatch)])
            do {
                let receipt = try await store.deleteRecords(ids: chunk, from: live.info, on: loop)
                deleted += receipt.count
                try await engine.catchUp(live, to: receipt.lastSequence, on: loop)
            } catch let error as StoreError {
                throw CollectionError(error)
            } catch let error as CollectionError {
                throw error
            } catch {
                throw .internalError("\(error)")
            }
            start += Validation.maximumBatch
        }
        return deleted
    }

    // MARK: Reading

    /// Records by ids (in the order asked, those that exist) and/or by filter (in the order
    /// written), after `offset`, at most `limit`.
    func get(ids: [String]?, filter: RecordFilter?, offset: Int, limit: Int?, include: Include,
             from live: LiveCollection, on loop: EventLoop) async throws(CollectionError) -> [FoundRecord] {
        guard offset >= 0 else { throw .invalid("offset must not be negative") }
        if let limit, limit < 0 { throw .invalid("limit must not be negative") }
        var found: [FoundRecord] = []
        if let ids {
            guard ids.count <= Validation.maximumBatch else { throw .invalid("a get names at most \(Validation.maximumBatch) ids") }
            try CollectionOperations.checkIDs(ids, allowRepeats: true)
            var seen = Set<String>()
            var matched: [FoundRecord] = []
            for id in ids where seen.insert(id).inserted {
                guard let label = live.label(of: id), let entry = live.entry(label) else { continue }
                if let filter, !filter.matches(entry) { continue }
                matched.append(FoundRecord(id: id, entry: entry))
            }
            found = Array(matched.dropFirst(offset).prefix(limit ?? Int.max))
        } else {
            for id in live.ids(matching: filter, offset: offset, limit: limit ?? Int.max) {
                guard let label = live.label(of: id), let entry = live.entry(label) else { continue }
                found.append(FoundRecord(id: id, entry: entry))
            }
        }
        if include.contains(.embeddings), !found.isEmpty {
            let vectors = try await storedVectors(found.map(\.id), in: live, on: loop)
            for i in found.indices { found[i].vector = vectors[found[i].id] }
        }
        return found
    }

    /// The `k` nearest records to each query vector, nearest first. Small searches run on
    /// the loop (a hop would cost more than they do); many vectors or a wide beam go to the
    /// worker pool.
    func query(_ vectors: [[Float]], k: Int, ef: Int?, filter: RecordFilter?, include: Include,
               in live: LiveCollection, on loop: EventLoop) async throws(CollectionError) -> [[Neighbour]] {
        try CollectionOperations.checkQuery(vectors, k: k, ef: ef)
        let work = vectors.count * max(k, ef ?? live.info.efSearch)
        var results: [[Neighbour]]
        if work <= 4_096 {
            results = try CollectionOperations.search(vectors, k: k, ef: ef, filter: filter, in: live)
        } else {
            let outcome: Result<[[Neighbour]], CollectionError> = await loop.awaiting { (done: @escaping (Result<Result<[[Neighbour]], CollectionError>, Never>) -> Void) in
                loop.submit({ Result { () throws(CollectionError) in try CollectionOperations.search(vectors, k: k, ef: ef, filter: filter, in: live) } },
                            completion: { done(.success($0)) })
            }
            results = try outcome.get()
        }
        if include.contains(.embeddings) {
            let ids = Array(Set(results.flatMap { $0.map(\.id) }))
            if !ids.isEmpty {
                let stored = try await storedVectors(ids, in: live, on: loop)
                for i in results.indices { for j in results[i].indices { results[i][j].vector = stored[results[i][j].id] } }
            }
        }
        return results
    }

    static func checkQuery(_ vectors: [[Float]], k: Int, ef: Int?) throws(CollectionError) {
        guard !vectors.isEmpty else { throw .invalid("query needs at least one query embedding") }
        guard vectors.count <= maximumQueries else { throw .invalid("a query holds at most \(maximumQueries) query embeddings") }
        guard (1...maximumResults).contains(k) else { throw .invalid("n_results must be between 1 and \(maximumResults)") }
        if let ef, !(1...maximumResults).contains(ef) { throw .invalid("ef must be between 1 and \(maximumResults)") }
    }

    /// The synchronous search, for the fast path of a query that needs nothing from the
    /// database: `checkQuery` first.
    static func search(_ vectors: [[Float]], k: Int, ef: Int?, filter: RecordFilter?, in live: LiveCollection) throws(CollectionError) -> [[Neighbour]] {
        var results: [[Neighbour]] = []
        results.reserveCapacity(vectors.count)
        for (i, vector) in vectors.enumerated() {
            for (j, x) in vector.enumerated() where !x.isFinite {
                throw .invalid("query_embeddings[\(i)][\(j)] is not a finite number")
            }
            results.append(try vector.withUnsafeBufferPointer { (q) throws(CollectionError) in try live.search(q, k: k, ef: ef, filter: filter) })
        }
        return results
    }

    /// Original float32 vectors from the rows (the index keeps them normalised, maybe as float16).
    private func storedVectors(_ ids: [String], in live: LiveCollection, on loop: EventLoop) async throws(CollectionError) -> [String: [Float]] {
        var out: [String: [Float]] = [:]
        var start = 0
        while start < ids.count {
            let chunk = Array(ids[start..<min(ids.count, start + 10_000)])
            do {
                for record in try await store.records(ids: chunk, in: live.info, on: loop) { out[record.id] = record.vector }
            } catch { throw CollectionError(error) }
            start += 10_000
        }
        return out
    }

    // MARK: Checks

    static func checkIDs(_ ids: [String], allowRepeats: Bool = false) throws(CollectionError) {
        var seen = Set<String>()
        seen.reserveCapacity(ids.count)
        for (i, id) in ids.enumerated() {
            let bytes = id.utf8.count
            guard bytes > 0 else { throw .invalid("ids[\(i)] is empty") }
            guard bytes <= 512 else { throw .invalid("ids[\(i)] is \(bytes) bytes; the limit is 512") }
            guard !id.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { throw .invalid("ids[\(i)] contains control characters") }
            if !allowRepeats, !seen.insert(id).inserted {
                throw .invalid("ids[\(i)] repeats \"\(id.prefix(64))\"; ids must be unique within a batch")
            }
        }
    }

    static func checkVector(_ vector: [Float], dimension: Int, metric: CollectionMetric, at path: String) throws(CollectionError) {
        guard vector.count == dimension else {
            throw .invalid("\(path) has \(vector.count) components; the collection's dimension is \(dimension)")
        }
        var norm: Float = 0
        for (j, x) in vector.enumerated() {
            guard x.isFinite else { throw .invalid("\(path)[\(j)] is not a finite number") }
            norm += x * x
        }
        if metric == .cosine, norm == 0 { throw .invalid("\(path) is all zeros, which has no cosine distance") }
    }

    static func metadata(_ value: JSONValue, at path: String) throws(CollectionError) -> Metadata? {
        if value == .null { return nil }
        return try Metadata.parse(value, at: path)
    }
}
