import Net

extension Store {
    // PostgreSQL: one set-based statement per batch. The collection row's counter is bumped
    // first, and that row lock is held to commit, so sequence numbers commit in order and a
    // follower reading `seq > n` never skips a change that commits later.
    static let upsertRecordsPostgres = Query("records_upsert", postgres: """
        WITH c AS (UPDATE collections SET last_seq = last_seq + $2 WHERE id = $1 RETURNING last_seq - $2 AS base),
        t AS (SELECT * FROM unnest($3::text[], $4::bytea[], $5::jsonb[], $6::text[]) WITH ORDINALITY
              AS t(external_id, vector, metadata, document, ord)),
        r AS (INSERT INTO records (collection_id, external_id, vector, metadata, document, seq)
              SELECT $1, t.external_id, t.vector, t.metadata, t.document, c.base + t.ord FROM c, t
              ON CONFLICT (collection_id, external_id) DO UPDATE
              SET vector = EXCLUDED.vector, metadata = EXCLUDED.metadata, document = EXCLUDED.document, seq = EXCLUDED.seq
              RETURNING external_id, seq),
        l AS (INSERT INTO changes (collection_id, seq, external_id, op) SELECT $1, seq, external_id, 'upsert' FROM r RETURNING seq)
        SELECT (SELECT count(*) FROM c), count(*), COALESCE(max(seq), 0) FROM l
        """, sqlite: "", parameters: 6)
    /// `add`: an id that exists keeps its stored record. Its change is logged all the same
    /// (its record row does not match the change's sequence, so followers skip it): the log
    /// stays gap-free, and a follower knows it has read everything up to a sequence.
    static let insertRecordsPostgres = Query("records_insert", postgres: """
        WITH c AS (UPDATE collections SET last_seq = last_seq + $2 WHERE id = $1 RETURNING last_seq - $2 AS base),
        t AS (SELECT * FROM unnest($3::text[], $4::bytea[], $5::jsonb[], $6::text[]) WITH ORDINALITY
              AS t(external_id, vector, metadata, document, ord)),
        r AS (INSERT INTO records (collection_id, external_id, vector, metadata, document, seq)
              SELECT $1, t.external_id, t.vector, t.metadata, t.document, c.base + t.ord FROM c, t
              ON CONFLICT (collection_id, external_id) DO NOTHING
              RETURNING external_id, seq),
        l AS (INSERT INTO changes (collection_id, seq, external_id, op)
              SELECT $1, c.base + t.ord, t.external_id, 'upsert' FROM c, t RETURNING seq)
        SELECT (SELECT count(*) FROM c), (SELECT count(*) FROM r), COALESCE(max(seq), 0) FROM l
        """, sqlite: "", parameters: 6)
    static let deleteRecordsPostgres = Query("records_delete", postgres: """
        WITH c AS (UPDATE collections SET last_seq = last_seq + $2 WHERE id = $1 RETURNING last_seq - $2 AS base),
        d AS (DELETE FROM records WHERE collection_id = $1 AND external_id = ANY($3::text[]) RETURNING 1),
        l AS (INSERT INTO changes (collection_id, seq, external_id, op)
              SELECT $1, c.base + t.ord, t.external_id, 'delete' FROM c, unnest($3::text[]) WITH ORDINALITY AS t(external_id, ord)
              RETURNING seq)
        SELECT (SELECT count(*) FROM c), (SELECT count(*) FROM d), (SELECT COALESCE(max(seq), 0) FROM l)
        """, sqlite: "", parameters: 3)
    static let selectRecordsPostgres = Query("records_select", postgres: """
        SELECT external_id, vector, metadata, document, seq FROM records
        WHERE collection_id = $1 AND external_id = ANY($2::text[])
        """, sqlite: "", parameters: 2)

    // SQLite: the writer is alone, so a statement per row inside one transaction is as safe,
    // and in-process statements are cheap. COALESCE keeps a missing collection's failure a
    // foreign-key violation (not found) rather than a NOT NULL one.
    static let bumpSequence = Query("collection_bump", "UPDATE collections SET last_seq = last_seq + $2 WHERE id = $1", parameters: 2)
    static let upsertRecordSQLite = Query("record_upsert", postgres: "", sqlite: """
        INSERT INTO records (collection_id, external_id, vector, metadata, document, seq)
        VALUES ($1, $2, $3, $4, $5, COALESCE((SELECT last_seq FROM collections WHERE id = $1) - $6, 0))
        ON CONFLICT (collection_id, external_id) DO UPDATE
        SET vector = excluded.vector, metadata = excluded.metadata, document = excluded.document, seq = excluded.seq
        """, parameters: 6)
    static let logChangeSQLite = Query("change_insert", postgres: "", sqlite: """
        INSERT INTO changes (collection_id, seq, external_id, op)
        VALUES ($1, COALESCE((SELECT last_seq FROM collections WHERE id = $1) - $2, 0), $3, $4)
        """, parameters: 4)
    static let insertRecordSQLite = Query("record_insert", postgres: "", sqlite: """
        INSERT INTO records (collection_id, external_id, vector, metadata, document, seq)
        VALUES ($1, $2, $3, $4, $5, COALESCE((SELECT last_seq FROM collections WHERE id = $1) - $6, 0))
        ON CONFLICT (collection_id, external_id) DO NOTHING
        """, parameters: 6)
    static let deleteRecordSQLite = Query("record_delete", postgres: "", sqlite:
        "DELETE FROM records WHERE collection_id = $1 AND external_id = $2", parameters: 2)
    static let selectRecordSQLite = Query("record_select", postgres: "", sqlite:
        "SELECT external_id, vector, metadata, document, seq FROM records WHERE collection_id = $1 AND external_id = $2", parameters: 2)
    static let collectionSequence = Query("collection_seq", "SELECT last_seq FROM collections WHERE id = $1", parameters: 1)

    static let trimChanges = Query("changes_trim", "DELETE FROM changes WHERE collection_id = $1 AND seq <= $2", parameters: 2)
    static let selectRecordPage = Query("records_page", """
        SELECT external_id, vector, metadata, document, seq FROM records
        WHERE collection_id = $1 AND seq > $2 ORDER BY seq LIMIT $3
        """, parameters: 3)
    static let selectRecordSummaryPage = Query("record_summaries_page", """
        SELECT external_id, metadata, document, seq FROM records
        WHERE collection_id = $1 AND seq > $2 ORDER BY seq LIMIT $3
        """, parameters: 3)

    static let selectChanges = Query("changes_after", """
        SELECT c.seq, c.external_id, c.op, r.vector, r.metadata, r.document FROM changes c
        LEFT JOIN records r ON r.collection_id = c.collection_id AND r.external_id = c.external_id AND r.seq = c.seq
        WHERE c.collection_id = $1 AND c.seq > $2 ORDER BY c.seq LIMIT $3
        """, parameters: 3)

    /// How a batch treats an id that is already stored.
    public enum WriteMode: Sendable {
        /// Replace the stored record.
        case upsert
        /// Keep the stored record (Chroma's `add`); `count` is then how many were new.
        case insertOnly
    }

    /// Inserts or replaces records by external id, all or none, and appends one change per
    /// record written. A batch naming an id twice keeps the last.
    public func upsertRecords(_ records: [RecordInput], into collection: VectorCollection, mode: WriteMode = .upsert,
                              on loop: EventLoop, _ done: @escaping (Result<WriteReceipt, StoreError>) -> Void) {
        var batch: [RecordInput] = []
        var metadata: [String] = []
        guard validate(done, { () throws(StoreError) in
            guard !records.isEmpty else { throw .invalid("a batch needs at least one record") }
            guard records.count <= Validation.maximumBatch else {
                throw .invalid("a batch holds at most \(Validation.maximumBatch) records; this one has \(records.count)")
            }
            var lastIndex: [String: Int] = [:]
            lastIndex.reserveCapacity(records.count)
            for (i, record) in records.enumerated() {
                try Validation.identifier(record.id, "record id")
                guard let dimension = collection.dimension else {
                    throw .invalid("the collection's dimension is not fixed yet (Store.fixDimension comes first)")
                }
                try Validation.vector(record.vector, dimension: dimension, id: record.id)
                if let document = record.document { try Validation.text(document, "record \(Validation.quoted(record.id)) document") }
                do throws(StoreError) { _ = try Validation.metadata(record.metadata) } catch {
                    throw .invalid("record \(Validation.quoted(record.id)): \(error.message)")
                }
                lastIndex[record.id] = i
            }
            for (i, record) in records.enumerated() where lastIndex[record.id] == i {
                batch.append(record)
                metadata.append(record.metadata ?? "{}")
            }
        }) else { return }
        let n = Int64(batch.count)
        let id = SQLValue.integer(collection.id)
        switch dialect {
        case .postgres:
            let statement = (mode == .upsert ? Store.upsertRecordsPostgres : Store.insertRecordsPostgres)(
                id, .integer(n), .textArray(batch.map(\.id)), .blobArray(batch.map(\.vector.storageBytes)),
                .jsonArray(metadata), .optionalTextArray(batch.map(\.document)))
            unit([statement], on: loop, done) { results throws(StoreError) in
                try Store.receipt(results[0].rows.first, collection: collection)
            }
        case .sqlite:
            var statements = [Store.bumpSequence(id, .integer(n))]
            statements.reserveCapacity(2 * batch.count + 2)
            for (i, record) in batch.enumerated() {
                let offset = SQLValue.integer(n - 1 - Int64(i))
                let write = mode == .upsert ? Store.upsertRecordSQLite : Store.insertRecordSQLite
                statements.append(write(id, .text(record.id), .blob(record.vector.storageBytes),
                                        .json(metadata[i]), record.document.map { .text($0) } ?? .null, offset))
                statements.append(Store.logChangeSQLite(id, offset, .text(record.id), .text("upsert")))
            }
            statements.append(Store.collectionSequence(id))
            unit(statements, on: loop, done) { results throws(StoreError) in
                guard results[0].affected == 1, let row = results.last?.rows.first else {
                    throw .notFound("collection \(Validation.quoted(collection.name))")
                }
                var written = 0
                for k in stride(from: 1, to: results.count - 1, by: 2) { written += results[k].affected }
                return WriteReceipt(count: written, lastSequence: try row.integer(0))
            }
        }
    }

    /// Deletes records by external id and logs a delete for each id named (present or not,
    /// so a follower that missed the insert still converges). `count` is how many existed.
    public func deleteRecords(ids: [String], from collection: VectorCollection, on loop: EventLoop,
                              _ done: @escaping (Result<WriteReceipt, StoreError>) -> Void) {
        var unique: [String] = []
        guard validate(done, { () throws(StoreError) in
            guard !ids.isEmpty, ids.count <= Validation.maximumBatch else {
                throw .invalid("a delete names 1 to \(Validation.maximumBatch) ids")
            }
            var seen = Set<String>()
            for id in ids {
                try Validation.identifier(id, "record id")
                if seen.insert(id).inserted { unique.append(id) }
            }
        }) else { return }
        let n = Int64(unique.count)
        let id = SQLValue.integer(collection.id)
        switch dialect {
        case .postgres:
            unit([Store.deleteRecordsPostgres(id, .integer(n), .textArray(unique))], on: loop, done) { results throws(StoreError) in
                try Store.receipt(results[0].rows.first, collection: collection)
            }
        case .sqlite:
            var statements = [Store.bumpSequence(id, .integer(n))]
            for (i, external) in unique.enumerated() {
                statements.append(Store.deleteRecordSQLite(id, .text(external)))
                statements.append(Store.logChangeSQLite(id, .integer(n - 1 - Int64(i)), .text(external), .text("delete")))
            }
            statements.append(Store.collectionSequence(id))
            unit(statements, on: loop, done) { results throws(StoreError) in
                guard results[0].affected == 1, let row = results.last?.rows.first else {
                    throw .notFound("collection \(Validation.quoted(collection.name))")
                }
                var deleted = 0
                for k in stride(from: 1, to: results.count - 1, by: 2) { deleted += results[k].affected }
                return WriteReceipt(count: deleted, lastSequence: try row.integer(0))
            }
        }
    }

    /// The records with these ids that exist, in the order asked.
    public func records(ids: [String], in collection: VectorCollection, on loop: EventLoop,
                        _ done: @escaping (Result<[VectorRecord], StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in
            guard ids.count <= Validation.maximumBatch else { throw .invalid("a read names at most \(Validation.maximumBatch) ids") }
            for id in ids { try Validation.identifier(id, "record id") }
        }) else { return }
        guard !ids.isEmpty else { return done(.success([])) }
        let id = SQLValue.integer(collection.id)
        let statements: [Statement] = switch dialect {
        case .postgres: [Store.selectRecordsPostgres(id, .textArray(ids))]
        case .sqlite: ids.map { Store.selectRecordSQLite(id, .text($0)) }
        }
        unit(statements, readOnly: true, on: loop, done) { results throws(StoreError) in
            var byID: [String: VectorRecord] = [:]
            for result in results {
                for row in result.rows {
                    let record = VectorRecord(id: try row.text(0), vector: try row.vector(1), metadata: try row.text(2),
                                              document: row.optionalText(3), sequence: try row.integer(4))
                    byID[record.id] = record
                }
            }
            return ids.compactMap { byID[$0] }
        }
    }

    /// Up to `limit` changes after sequence `after`, in order. The log has no gaps: every
    /// sequence number a write took has its change. `consistent` reads the primary even where
    /// reads go to a replica (a writer catching up to its own write must not read the past).
    public func changes(in collection: VectorCollection, after: Int64, limit: Int, consistent: Bool = false, on loop: EventLoop,
                        _ done: @escaping (Result<[Change], StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in
            guard (1...100_000).contains(limit) else { throw .invalid("limit must be between 1 and 100000") }
        }) else { return }
        let statement = Store.selectChanges(.integer(collection.id), .integer(after), .integer(Int64(limit)))
        unit([statement], readOnly: !(consistent && dialect == .postgres), on: loop, done) { results throws(StoreError) in
            try results[0].rows.map { row throws(StoreError) in
                guard let operation = Change.Operation(rawValue: try row.text(2)) else { throw .internalError("unknown change") }
                let sequence = try row.integer(0), id = try row.text(1)
                let record: VectorRecord? = if case .blob = row[3] {
                    VectorRecord(id: id, vector: try row.vector(3), metadata: try row.text(4), document: row.optionalText(5),
                                 sequence: sequence)
                } else { nil }
                return Change(sequence: sequence, id: id, operation: operation, record: record)
            }
        }
    }

    /// Deletes the change log through `sequence` (the rows keep every record): what keeps
    /// the log bounded. A follower that needed the deleted part finds its read starting past
    /// its position and reloads from the rows. Returns how many changes were deleted.
    public func trimChanges(in collection: VectorCollection, through sequence: Int64, on loop: EventLoop,
                            _ done: @escaping (Result<Int, StoreError>) -> Void) {
        unit([Store.trimChanges(.integer(collection.id), .integer(sequence))], on: loop, done) { results throws(StoreError) in
            results[0].affected
        }
    }

    /// Up to `limit` stored records whose latest change is after `after`, in change order:
    /// how an index loads a collection page by page while writes go on.
    public func records(in collection: VectorCollection, after: Int64, limit: Int, on loop: EventLoop,
                        _ done: @escaping (Result<[VectorRecord], StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in
            guard (1...100_000).contains(limit) else { throw .invalid("limit must be between 1 and 100000") }
        }) else { return }
        let statement = Store.selectRecordPage(.integer(collection.id), .integer(after), .integer(Int64(limit)))
        unit([statement], readOnly: true, on: loop, done) { results throws(StoreError) in
            try results[0].rows.map { row throws(StoreError) in
                VectorRecord(id: try row.text(0), vector: try row.vector(1), metadata: try row.text(2),
                             document: row.optionalText(3), sequence: try row.integer(4))
            }
        }
    }

    /// As `records(in:after:limit:)` without the vectors: what an index loaded from a
    /// snapshot still needs (ids, metadata and documents for its labels).
    public func recordSummaries(in collection: VectorCollection, after: Int64, limit: Int, on loop: EventLoop,
                                _ done: @escaping (Result<[RecordSummary], StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in
            guard (1...100_000).contains(limit) else { throw .invalid("limit must be between 1 and 100000") }
        }) else { return }
        let statement = Store.selectRecordSummaryPage(.integer(collection.id), .integer(after), .integer(Int64(limit)))
        unit([statement], readOnly: true, on: loop, done) { results throws(StoreError) in
            try results[0].rows.map { row throws(StoreError) in
                RecordSummary(id: try row.text(0), metadata: try row.text(1), document: row.optionalText(2), sequence: try row.integer(3))
            }
        }
    }

    static func receipt(_ row: [SQLValue]?, collection: VectorCollection) throws(StoreError) -> WriteReceipt {
        guard let row, try row.integer(0) == 1 else { throw .notFound("collection \(Validation.quoted(collection.name))") }
        return WriteReceipt(count: Int(try row.integer(1)), lastSequence: try row.integer(2))
    }
}
