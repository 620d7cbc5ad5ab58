import Net

/// The job queue: jobs claimed with a lease by any number of workers in any number of
/// processes, each claim identified by a token only its holder knows.
///
/// Every write a worker makes — an event, a heartbeat, the completion with its document, a
/// failure, a release — is conditioned on its token still being the job's claim, in the same
/// statement or unit, so a worker that lost its lease (it stalled, another worker claimed the
/// job) writes nothing: each job's outcome is written exactly once. A claim's lease is renewed
/// by heartbeats (`claimed_at`); a job whose lease ran out is claimable again while attempts
/// remain, and `sweepExpiredJobs` ends those that have none left (or were cancelled), so no
/// job stays running past its lease.
///
/// A job holds a claim exactly while it runs (every way out of `running` clears it), so the
/// holder's statements name the job by id and claim alone: a `state = 'running'` beside them
/// implies a partial index's predicate (`jobs_running`), and PostgreSQL's planner then reads that
/// whole index (every queued job) for what is a primary-key lookup — measured, the queue's
/// cost grew with its length.
extension Store {
    static let jobColumns = """
        id, tenant_id, kind, payload, state, attempts, max_attempts, run_after, result, error, created_at, updated_at, claim,
        cancel_requested, idempotency_key, document_id, document_version, request_hash
        """
    /// The same, where another table is joined in.
    static let qualifiedJobColumns = """
        jobs.id, jobs.tenant_id, jobs.kind, jobs.payload, jobs.state, jobs.attempts, jobs.max_attempts, jobs.run_after, jobs.result, jobs.error, jobs.created_at, jobs.updated_at, jobs.claim,
        jobs.cancel_requested, jobs.idempotency_key, jobs.document_id, jobs.document_version, jobs.request_hash
        """
    /// How long an idempotency key names its job.
    public static let idempotencyWindowMilliseconds: Int64 = 24 * 3600 * 1000

    /// A key older than the window names no job any more (its job stays).
    static let expireIdempotencyKey = Query("job_idempotency_expire", """
        UPDATE jobs SET idempotency_key = NULL WHERE tenant_id = $1 AND kind = $2 AND idempotency_key = $3 AND created_at < $4
        """, parameters: 4)
    /// The job and its `queued` event in one statement; nothing when the key names a job.
    static let insertJob = Query("job_insert", postgres: """
        WITH j AS (
            INSERT INTO jobs (tenant_id, kind, payload, state, attempts, max_attempts, run_after, created_at, updated_at,
                              idempotency_key, request_hash)
            VALUES ($1, $2, $3, 'queued', 0, $4, $5, $6, $6, $7::text, $8::text)
            ON CONFLICT (tenant_id, kind, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
            RETURNING \(jobColumns)
        ), e AS (INSERT INTO job_events (job_id, type, data, at) SELECT id, 'queued', '{}', $6 FROM j)
        SELECT * FROM j
        """, sqlite: """
        INSERT INTO jobs (tenant_id, kind, payload, state, attempts, max_attempts, run_after, created_at, updated_at,
                          idempotency_key, request_hash)
        VALUES ($1, $2, $3, 'queued', 0, $4, $5, $6, $6, $7, $8)
        ON CONFLICT (tenant_id, kind, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING \(jobColumns)
        """, parameters: 8)
    static let insertQueuedEventSQLite = Query("job_insert_event", postgres: "SELECT $1::bigint", sqlite: """
        INSERT INTO job_events (job_id, type, data, at) SELECT last_insert_rowid(), 'queued', '{}', $1 WHERE changes() = 1
        """, parameters: 1)
    static let selectJobByKey = Query("job_by_key", """
        SELECT \(jobColumns) FROM jobs WHERE tenant_id = $1 AND kind = $2 AND idempotency_key = $3
        """, parameters: 3)
    // A job is claimable when queued and due, or when its last claim's lease ran out (the
    // worker died) and attempts remain. SKIP LOCKED lets many workers claim at once without
    // waiting on each other.
    /// PostgreSQL's claimable jobs ($1 kind, $2 now, $3 the lease's start, $5 how many), locked
    /// and skipping what another claim holds: the one subquery both claim statements use.
    static let claimablePostgres = """
        SELECT id FROM (SELECT id FROM jobs WHERE kind = $1 AND state = 'running' AND claimed_at < $3 AND attempts < max_attempts
                            AND cancel_requested = 0
                        ORDER BY claimed_at LIMIT $5 FOR UPDATE SKIP LOCKED) expired
        UNION ALL
        SELECT id FROM (SELECT id FROM jobs WHERE kind = $1 AND state = 'queued' AND run_after <= $2 AND cancel_requested = 0
                        ORDER BY run_after, id LIMIT $5 FOR UPDATE SKIP LOCKED) due
        LIMIT $5
        """
    /// The jobs whose lease ran out (attempts left) first, then the due queued ones, each
    /// from its own partial index (`jobs_running`, `jobs_queued`: migration 8), so a claim
    /// reads a few index entries however long the queue is.
    static let claimJob = Query("job_claim", postgres: """
        UPDATE jobs SET state = 'running', attempts = attempts + 1, claimed_at = $2, updated_at = $2, claim = $4
        WHERE id IN (\(claimablePostgres))
        RETURNING \(jobColumns)
        """, sqlite: """
        UPDATE jobs SET state = 'running', attempts = attempts + 1, claimed_at = $2, updated_at = $2, claim = $4
        WHERE id IN (
            SELECT id FROM (SELECT id FROM jobs WHERE kind = $1 AND state = 'running' AND claimed_at < $3 AND attempts < max_attempts
                                AND cancel_requested = 0
                            ORDER BY claimed_at LIMIT $5)
            UNION ALL
            SELECT id FROM (SELECT id FROM jobs WHERE kind = $1 AND state = 'queued' AND run_after <= $2 AND cancel_requested = 0
                            ORDER BY run_after, id LIMIT $5)
            LIMIT $5)
        RETURNING \(jobColumns)
        """, parameters: 5)
    /// PostgreSQL: the claim and its `started` events in one statement (a data-modifying CTE),
    /// one execution per claim instead of two. (Never run on SQLite, which has no such CTEs.)
    static let claimJobWithEvents = Query("job_claim_with_events", postgres: """
        WITH claimed AS (
            UPDATE jobs SET state = 'running', attempts = attempts + 1, claimed_at = $2, updated_at = $2, claim = $4
            WHERE id IN (\(claimablePostgres))
            RETURNING \(jobColumns)),
        started AS (
            INSERT INTO job_events (job_id, type, data, at)
            SELECT id, 'started', json_build_object('attempt', attempts)::text, $2 FROM claimed)
        SELECT \(jobColumns) FROM claimed
        """, sqlite: "SELECT $1, $2, $3, $4, $5", parameters: 5)
    static let startedEvent = Query("job_started_event", postgres: """
        INSERT INTO job_events (job_id, type, data, at)
        SELECT id, 'started', json_build_object('attempt', attempts)::text, $2 FROM jobs WHERE claim = $1
        """, sqlite: """
        INSERT INTO job_events (job_id, type, data, at)
        SELECT id, 'started', json_object('attempt', attempts), $2 FROM jobs WHERE claim = $1
        """, parameters: 2)
    static let heartbeatJob = Query("job_heartbeat", """
        UPDATE jobs SET claimed_at = $3 WHERE id = $1 AND claim = $2 RETURNING cancel_requested
        """, parameters: 3)
    static let appendEvent = Query("job_event_append", """
        INSERT INTO job_events (job_id, type, data, at)
        SELECT id, $3, $4, $5 FROM jobs WHERE id = $1 AND claim = $2
        """, parameters: 5)
    /// The holder's lock on its job for the rest of the completing unit (another worker's
    /// claim waits; SQLite's writer is alone anyway).
    static let lockClaim = Query("job_lock_claim", postgres: """
        SELECT id FROM jobs WHERE id = $1 AND claim = $2 FOR UPDATE
        """, sqlite: """
        SELECT id FROM jobs WHERE id = $1 AND claim = $2
        """, parameters: 2)
    static let insertJobDocument = Query("job_document_insert", """
        INSERT INTO documents (tenant_id, title, body, metadata, version, created_at, updated_at, content_type)
        SELECT $3, $4, $5, $6, 1, $7, $7, $8 WHERE EXISTS (SELECT 1 FROM jobs WHERE id = $1 AND claim = $2)
        RETURNING \(documentColumns)
        """, parameters: 8)
    static let updateJobDocument = Query("job_document_update", """
        UPDATE documents SET title = $4, body = $5, metadata = $6, version = version + 1, updated_at = $7, content_type = $8
        WHERE tenant_id = $3 AND id = $9 AND EXISTS (SELECT 1 FROM jobs WHERE id = $1 AND claim = $2)
        RETURNING \(documentColumns)
        """, parameters: 9)
    /// `$5`: the document the statement before wrote (-1: the one it inserted, whose id the
    /// sequence just gave this session), or null; `$6` its tenant. With a document, the
    /// completion needs it to be there and the tenant's (deleted meanwhile: nothing is written).
    static let completeJob = Query("job_complete", postgres: """
        UPDATE jobs SET state = 'succeeded', result = $3, error = NULL, updated_at = $4, claim = NULL,
            document_id = d.id, document_version = d.version
        FROM (SELECT NULL::bigint AS id, NULL::bigint AS version WHERE $5::bigint IS NULL
              UNION ALL
              SELECT id, version FROM documents WHERE tenant_id = $6
                  AND id = CASE WHEN $5::bigint = -1
                                THEN (SELECT currval(pg_get_serial_sequence('documents', 'id'))
                                      WHERE EXISTS (SELECT 1 FROM jobs WHERE id = $1 AND claim = $2))
                                ELSE $5::bigint END) d
        WHERE jobs.id = $1 AND jobs.claim = $2
        RETURNING \(qualifiedJobColumns)
        """, sqlite: """
        UPDATE jobs SET state = 'succeeded', result = $3, error = NULL, updated_at = $4, claim = NULL,
            document_id = d.id, document_version = d.version
        FROM (SELECT NULL AS id, NULL AS version WHERE $5 IS NULL
              UNION ALL
              SELECT id, version FROM documents WHERE tenant_id = $6
                  AND id = CASE WHEN $5 = -1 THEN last_insert_rowid() ELSE $5 END) d
        WHERE jobs.id = $1 AND jobs.claim = $2
        RETURNING \(qualifiedJobColumns)
        """, parameters: 6)
    /// PostgreSQL: the completion with its document in one statement — the claim's row
    /// locked, the last delta event, the document inserted (`$10` null) or its next version
    /// (`$10` its id, the tenant's), and the job completed naming it — one execution where the
    /// general path (`lockClaim`, `appendEvent`, `insertJobDocument`/`updateJobDocument`,
    /// `completeJob`) takes four. No row: the claim is lost or the document is not the
    /// tenant's (`claimHeld` tells which). (Never run on SQLite.)
    static let completeJobWithDocument = Query("job_complete_with_document", postgres: """
        WITH held AS (SELECT id FROM jobs WHERE id = $1 AND claim = $2 FOR UPDATE),
        event AS (
            INSERT INTO job_events (job_id, type, data, at) SELECT id, 'delta', $11::text, $4 FROM held WHERE $11::text IS NOT NULL),
        inserted AS (
            INSERT INTO documents (tenant_id, title, body, metadata, version, created_at, updated_at, content_type)
            SELECT $5, $6, $7, $8, 1, $4, $4, $9 FROM held WHERE $10::bigint IS NULL
            RETURNING \(documentColumns)),
        updated AS (
            UPDATE documents SET title = $6, body = $7, metadata = $8, version = version + 1, updated_at = $4, content_type = $9
            WHERE tenant_id = $5 AND id = $10::bigint AND EXISTS (SELECT 1 FROM held)
            RETURNING \(documentColumns)),
        written AS (SELECT * FROM inserted UNION ALL SELECT * FROM updated)
        UPDATE jobs SET state = 'succeeded', result = $3, error = NULL, updated_at = $4, claim = NULL,
            document_id = written.id, document_version = written.version
        FROM written WHERE jobs.id = $1 AND jobs.claim = $2
        RETURNING \(qualifiedJobColumns), written.id, written.tenant_id, written.title, written.body, written.metadata,
                  written.version, written.created_at, written.updated_at, written.content_type
        """, sqlite: "SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11", parameters: 11)
    static let claimHeld = Query("job_claim_held", "SELECT 1 FROM jobs WHERE id = $1 AND claim = $2", parameters: 2)
    /// `$5`: whether the failure may pass (another attempt when attempts remain).
    static let failJob = Query("job_fail", """
        UPDATE jobs SET state = CASE WHEN $5 = 1 AND attempts < max_attempts THEN 'queued' ELSE 'failed' END,
                        error = $3, run_after = $6, updated_at = $4, claim = NULL
        WHERE id = $1 AND claim = $2 RETURNING \(jobColumns)
        """, parameters: 6)
    /// The `retrying` event of a failure that will run again (a final failure's end is the
    /// job's own state: `GET …/events` says it from the row).
    static let retryingEvent = Query("job_retrying_event", """
        INSERT INTO job_events (job_id, type, data, at)
        SELECT id, 'retrying', $3, $4 FROM jobs WHERE id = $1 AND claim = $2 AND $5 = 1 AND attempts < max_attempts
        """, parameters: 5)
    /// A drained worker hands its job back: queued at once, this attempt not counted.
    static let releaseJob = Query("job_release", """
        UPDATE jobs SET state = 'queued', attempts = attempts - 1, run_after = $3, updated_at = $3, claim = NULL
        WHERE id = $1 AND claim = $2 RETURNING \(jobColumns)
        """, parameters: 3)
    static let cancelledByHolder = Query("job_cancelled_by_holder", """
        UPDATE jobs SET state = 'cancelled', error = 'cancelled', updated_at = $3, claim = NULL
        WHERE id = $1 AND claim = $2 RETURNING \(jobColumns)
        """, parameters: 3)
    /// A queued job is cancelled at once; a running one is asked to stop (its holder sees
    /// it at its next heartbeat and aborts the call).
    static let cancelJob = Query("job_cancel", """
        UPDATE jobs SET cancel_requested = 1, updated_at = $3,
            state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END,
            error = CASE WHEN state = 'queued' THEN 'cancelled' ELSE error END
        WHERE tenant_id = $1 AND id = $2 AND state IN ('queued', 'running') RETURNING \(jobColumns)
        """, parameters: 3)
    static let sweepJobs = Query("job_sweep", """
        UPDATE jobs SET state = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'failed' END,
            error = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'the last attempt''s lease ran out (its worker stopped)' END,
            updated_at = $3, claim = NULL
        WHERE kind = $1 AND state = 'running' AND claimed_at < $2 AND (cancel_requested = 1 OR attempts >= max_attempts)
        """, parameters: 3)
    static let selectJob = Query("job_select", "SELECT \(jobColumns) FROM jobs WHERE tenant_id = $1 AND id = $2", parameters: 2)
    /// Keyset pages, newest first; one state or all.
    static let listJobs = Query("job_list", postgres: """
        SELECT \(jobColumns) FROM jobs WHERE tenant_id = $1 AND kind = $2 AND id < $3 AND ($4::text IS NULL OR state = $4::text)
        ORDER BY id DESC LIMIT $5
        """, sqlite: """
        SELECT \(jobColumns) FROM jobs WHERE tenant_id = $1 AND kind = $2 AND id < $3 AND ($4 IS NULL OR state = $4)
        ORDER BY id DESC LIMIT $5
        """, parameters: 5)
    static let selectEvents = Query("job_events_after", """
        SELECT e.id, e.job_id, e.type, e.data, e.at FROM job_events e JOIN jobs j ON j.id = e.job_id
        WHERE j.tenant_id = $1 AND e.job_id = $2 AND e.id > $3 ORDER BY e.id LIMIT $4
        """, parameters: 4)

    // MARK: Submitting

    /// Queues a job (and its `queued` event). With an idempotency key, a job the same tenant
    /// queued under that key within the last 24 hours is returned instead (`created` false),
    /// with the request hash it was queued with, for the caller to compare.
    public func enqueueJob(tenantID: String, kind: String, payload: String, maxAttempts: Int = 3, runAfter: Int64? = nil,
                           idempotencyKey: String? = nil, requestHash: String? = nil, maximumPayloadBytes: Int = 1 << 20,
                           on loop: EventLoop, _ done: @escaping (Result<(job: Job, created: Bool), StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in
            try Validation.tenantID(tenantID)
            try Validation.identifier(kind, "job kind", maximumBytes: 64)
            guard payload.utf8.count <= maximumPayloadBytes else {
                throw .invalid("the job is \(payload.utf8.count) bytes; the limit is \(maximumPayloadBytes)")
            }
            if let problem = JSONObjectValidator.problem(in: payload) { throw .invalid(problem) }
            guard (1...100).contains(maxAttempts) else { throw .invalid("max attempts must be between 1 and 100") }
            if let idempotencyKey { try Validation.identifier(idempotencyKey, "idempotency key", maximumBytes: 255) }
        }) else { return }
        let now = Store.now
        let key = idempotencyKey.map(SQLValue.text) ?? .null
        var statements: [Statement] = []
        if let idempotencyKey {
            statements.append(Store.expireIdempotencyKey(.text(tenantID), .text(kind), .text(idempotencyKey),
                                                         .integer(now - Store.idempotencyWindowMilliseconds)))
        }
        let inserted = statements.count
        statements.append(Store.insertJob(.text(tenantID), .text(kind), .json(payload), .integer(Int64(maxAttempts)),
                                          .integer(runAfter ?? now), .integer(now), key, requestHash.map(SQLValue.text) ?? .null))
        if dialect == .sqlite { statements.append(Store.insertQueuedEventSQLite(.integer(now))) }
        if let idempotencyKey { statements.append(Store.selectJobByKey(.text(tenantID), .text(kind), .text(idempotencyKey))) }
        unit(statements, on: loop, done) { results throws(StoreError) in
            if let row = results[inserted].rows.first { return (try Store.job(row), true) }
            guard idempotencyKey != nil, let row = results.last?.rows.first else { throw .internalError("insert returned no row") }
            return (try Store.job(row), false)
        }
    }

    // MARK: Working

    /// Claims the next due job of `kind` under `claim` (a token unique to this claim), or nil,
    /// and records its `started` event. A claim lasts `leaseMilliseconds` past its last
    /// heartbeat.
    public func claimJob(kind: String, claim: String, leaseMilliseconds: Int64, on loop: EventLoop,
                         _ done: @escaping (Result<Job?, StoreError>) -> Void) {
        claimJobs(kind: kind, claim: claim, leaseMilliseconds: leaseMilliseconds, limit: 1, on: loop) { done($0.map(\.first)) }
    }

    /// Claims up to `limit` due jobs in one unit, all under `claim` (every later write names
    /// the job's id as well as the claim, so one token serves the batch): a worker with free
    /// slots pays one round trip and one commit for all of them, not one each.
    public func claimJobs(kind: String, claim: String, leaseMilliseconds: Int64, limit: Int, on loop: EventLoop,
                          _ done: @escaping (Result<[Job], StoreError>) -> Void) {
        let now = Store.now
        let parameters: [SQLValue] = [.text(kind), .integer(now), .integer(now - leaseMilliseconds), .text(claim), .integer(Int64(max(1, limit)))]
        let statements = dialect == .postgres
            ? [Store.claimJobWithEvents.bind(parameters)]
            : [Store.claimJob.bind(parameters), Store.startedEvent(.text(claim), .integer(now))]
        unit(statements, on: loop, done) { results throws(StoreError) in
            try results[0].rows.map(Store.job).sorted { $0.id < $1.id }
        }
    }

    /// Renews the claim's lease: nil when the claim is lost (the job is another worker's, or
    /// over), else whether a cancel was asked for.
    public func heartbeatJob(id: Int64, claim: String, on loop: EventLoop, _ done: @escaping (Result<Bool?, StoreError>) -> Void) {
        unit([Store.heartbeatJob(.integer(id), .text(claim), .integer(Store.now))], on: loop, done) { results throws(StoreError) in
            guard let row = results[0].rows.first else { return nil }
            return try row.integer(0) != 0
        }
    }

    /// Appends events (type, JSON object) while the claim holds; false when it is lost.
    public func appendJobEvents(id: Int64, claim: String, _ events: [(type: String, data: String)], on loop: EventLoop,
                                _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        guard !events.isEmpty else { return done(.success(true)) }
        let now = Store.now
        let statements = events.map { Store.appendEvent(.integer(id), .text(claim), .text($0.type), .text($0.data), .integer(now)) }
        unit(statements, on: loop, done) { results throws(StoreError) in results.allSatisfy { $0.affected == 1 } }
    }

    /// Ends the claim with success, writing `document` (a new document or a new version) in the
    /// same unit: both happen, or — the claim lost — neither (`conflict`).
    /// `events` (the last deltas) are appended in the same unit, before the completion.
    public func completeJob(id: Int64, claim: String, result: String, document: JobDocumentWrite?, tenantID: String,
                            events: [(type: String, data: String)] = [],
                            on loop: EventLoop, _ done: @escaping (Result<(job: Job, document: Document?), StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in
            _ = try Validation.metadata(result)
            if let document {
                try Validation.text(document.title, "title")
                try Validation.text(document.body, "body")
                try Store.contentType(document.contentType)
                _ = try Validation.metadata(document.metadata)
            }
        }) else { return }
        let now = Store.now
        if dialect == .postgres, let document, events.count <= 1, events.allSatisfy({ $0.type == "delta" }) {
            let statements = [
                Store.completeJobWithDocument(.integer(id), .text(claim), .json(result), .integer(now), .text(tenantID), .text(document.title),
                                              .text(document.body), .json(document.metadata), .text(document.contentType),
                                              document.documentID.map { .integer($0) } ?? .null, events.first.map { .text($0.data) } ?? .null),
                Store.claimHeld(.integer(id), .text(claim)),
            ]
            return unit(statements, on: loop, done) { results throws(StoreError) in
                guard let row = results[0].rows.first else {
                    if results[1].rows.isEmpty { throw .conflict("job \(id)'s claim is lost") }
                    throw .notFound("document \(document.documentID.map(String.init) ?? "")")
                }
                let columns = row.count - 9
                return (try Store.job(Array(row[..<columns])), try Store.document(Array(row[columns...])))
            }
        }
        var statements = [Store.lockClaim(.integer(id), .text(claim))]
        statements += events.map { Store.appendEvent(.integer(id), .text(claim), .text($0.type), .text($0.data), .integer(now)) }
        let documentIndex = statements.count
        var documentParameter = SQLValue.null
        if let document {
            if let existing = document.documentID {
                statements.append(Store.updateJobDocument(.integer(id), .text(claim), .text(tenantID), .text(document.title),
                                                          .text(document.body), .json(document.metadata), .integer(now),
                                                          .text(document.contentType), .integer(existing)))
                documentParameter = .integer(existing)
            } else {
                statements.append(Store.insertJobDocument(.integer(id), .text(claim), .text(tenantID), .text(document.title),
                                                          .text(document.body), .json(document.metadata), .integer(now),
                                                          .text(document.contentType)))
                documentParameter = .integer(-1)
            }
        }
        statements.append(Store.completeJob(.integer(id), .text(claim), .json(result), .integer(now), documentParameter, .text(tenantID)))
        unit(statements, on: loop, done) { results throws(StoreError) in
            guard !results[0].rows.isEmpty else { throw .conflict("job \(id)'s claim is lost") }
            let written = document == nil ? nil : try results[documentIndex].rows.first.map(Store.document)
            if document != nil && written == nil { throw .notFound("document \(document?.documentID.map(String.init) ?? "")") }
            guard let row = results.last?.rows.first else { throw .conflict("job \(id)'s claim is lost") }
            return (try Store.job(row), written)
        }
    }

    /// Ends the claim's attempt with a failure: queued again after `retryAfterMilliseconds`
    /// when `retryable` and attempts remain (with a `retrying` event of `retryingEventData`),
    /// else failed for good. `conflict` when the claim is lost.
    public func failJob(id: Int64, claim: String, error message: String, retryable: Bool, retryAfterMilliseconds: Int64,
                        retryingEventData: String = "{}", on loop: EventLoop, _ done: @escaping (Result<Job, StoreError>) -> Void) {
        let message = String(decoding: message.utf8.prefix(4096), as: UTF8.self)
        let now = Store.now
        let retry = SQLValue.integer(retryable ? 1 : 0)
        let statements = [
            Store.retryingEvent(.integer(id), .text(claim), .text(retryingEventData), .integer(now), retry),
            Store.failJob(.integer(id), .text(claim), .text(message), .integer(now), retry, .integer(now + retryAfterMilliseconds)),
        ]
        unit(statements, on: loop, done) { results throws(StoreError) in
            guard let row = results[1].rows.first else { throw .conflict("job \(id)'s claim is lost") }
            return try Store.job(row)
        }
    }

    /// Hands a claimed job back (a draining worker): queued at once, the attempt not counted.
    public func releaseJob(id: Int64, claim: String, on loop: EventLoop, _ done: @escaping (Result<Job?, StoreError>) -> Void) {
        unit([Store.releaseJob(.integer(id), .text(claim), .integer(Store.now))], on: loop, done) { results throws(StoreError) in
            try results[0].rows.first.map(Store.job)
        }
    }

    /// The holder stopped the job because a cancel was asked for.
    public func markJobCancelled(id: Int64, claim: String, on loop: EventLoop, _ done: @escaping (Result<Job?, StoreError>) -> Void) {
        unit([Store.cancelledByHolder(.integer(id), .text(claim), .integer(Store.now))], on: loop, done) { results throws(StoreError) in
            try results[0].rows.first.map(Store.job)
        }
    }

    /// Ends running jobs of `kind` whose lease ran out and that may not run again (no
    /// attempts left, or cancelled); how many.
    public func sweepExpiredJobs(kind: String, leaseMilliseconds: Int64, on loop: EventLoop, _ done: @escaping (Result<Int, StoreError>) -> Void) {
        let now = Store.now
        unit([Store.sweepJobs(.text(kind), .integer(now - leaseMilliseconds), .integer(now))], on: loop, done) { results throws(StoreError) in
            results[0].affected
        }
    }

    // MARK: Reading

    /// Cancels a tenant's job: a queued one at once, a running one at its holder's next
    /// heartbeat. `conflict` for a job already over.
    public func cancelJob(tenantID: String, id: Int64, on loop: EventLoop, _ done: @escaping (Result<Job, StoreError>) -> Void) {
        let statements = [Store.cancelJob(.text(tenantID), .integer(id), .integer(Store.now)), Store.selectJob(.text(tenantID), .integer(id))]
        unit(statements, on: loop, done) { results throws(StoreError) in
            if let row = results[0].rows.first { return try Store.job(row) }
            guard let row = results[1].rows.first else { throw .notFound("job \(id)") }
            let job = try Store.job(row)
            throw .conflict("job \(id) is \(job.state.rawValue): only a queued or running job can be cancelled")
        }
    }

    public func job(tenantID: String, id: Int64, on loop: EventLoop, _ done: @escaping (Result<Job, StoreError>) -> Void) {
        unit([Store.selectJob(.text(tenantID), .integer(id))], readOnly: true, on: loop, done) { results throws(StoreError) in
            guard let row = results[0].rows.first else { throw .notFound("job \(id)") }
            return try Store.job(row)
        }
    }

    /// A tenant's jobs of `kind`, newest first, before `before` (exclusive), only `state`'s when given.
    public func jobs(tenantID: String, kind: String, state: Job.State?, before: Int64?, limit: Int, on loop: EventLoop,
                     _ done: @escaping (Result<Page<Job>, StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in
            guard (1...1000).contains(limit) else { throw .invalid("limit must be between 1 and 1000") }
        }) else { return }
        let statement = Store.listJobs(.text(tenantID), .text(kind), .integer(before ?? Int64.max), state.map { .text($0.rawValue) } ?? .null,
                                       .integer(Int64(limit)))
        unit([statement], readOnly: true, on: loop, done) { results throws(StoreError) in
            let items = try results[0].rows.map(Store.job)
            return Page(items: items, next: items.count == limit ? items.last?.id : nil)
        }
    }

    /// A tenant's job's events after `after` (exclusive), in order, with the job as it is now
    /// (read in the same unit, so an event the job's end implies is never behind it).
    public func jobEvents(tenantID: String, id: Int64, after: Int64, limit: Int, on loop: EventLoop,
                          _ done: @escaping (Result<(events: [JobEvent], job: Job), StoreError>) -> Void) {
        let statements = [Store.selectJob(.text(tenantID), .integer(id)),
                          Store.selectEvents(.text(tenantID), .integer(id), .integer(after), .integer(Int64(limit)))]
        unit(statements, readOnly: true, on: loop, done) { results throws(StoreError) in
            guard let row = results[0].rows.first else { throw .notFound("job \(id)") }
            let events = try results[1].rows.map { (r: [SQLValue]) throws(StoreError) -> JobEvent in
                JobEvent(id: try r.integer(0), jobID: try r.integer(1), type: try r.text(2), data: try r.text(3), at: try r.integer(4))
            }
            return (events, try Store.job(row))
        }
    }

    static func job(_ row: [SQLValue]) throws(StoreError) -> Job {
        guard let state = Job.State(rawValue: try row.text(4)) else { throw .internalError("unknown job state") }
        var job = Job(id: try row.integer(0), tenantID: try row.text(1), kind: try row.text(2), payload: try row.text(3),
                      state: state, attempts: Int(try row.integer(5)), maxAttempts: Int(try row.integer(6)),
                      runAfter: try row.integer(7), result: row.optionalText(8), error: row.optionalText(9))
        job.createdAt = try row.integer(10)
        job.updatedAt = try row.integer(11)
        job.claim = row.optionalText(12)
        job.cancelRequested = try row.integer(13) != 0
        job.idempotencyKey = row.optionalText(14)
        job.documentID = row[15] == .null ? nil : try row.integer(15)
        job.documentVersion = row[16] == .null ? nil : try row.integer(16)
        job.requestHash = row.optionalText(17)
        return job
    }
}
