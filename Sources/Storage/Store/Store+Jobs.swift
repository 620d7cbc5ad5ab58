import Net

extension Store {
    static let jobColumns = "id, tenant_id, kind, payload, state, attempts, max_attempts, run_after, result, error"
    static let insertJob = Query("job_insert", """
        INSERT INTO jobs (tenant_id, kind, payload, state, attempts, max_attempts, run_after, created_at, updated_at)
        VALUES ($1, $2, $3, 'queued', 0, $4, $5, $6, $6) RETURNING \(jobColumns)
        """, parameters: 6)
    // A job is claimable when queued and due, or when its last claim's lease ran out (the
    // worker died). SKIP LOCKED lets many replicas claim at once without waiting on each other.
    static let claimJob = Query("job_claim", postgres: """
        UPDATE jobs SET state = 'running', attempts = attempts + 1, claimed_at = $2, updated_at = $2
        WHERE id = (SELECT id FROM jobs WHERE kind = $1 AND ((state = 'queued' AND run_after <= $2)
                    OR (state = 'running' AND claimed_at < $3))
                    ORDER BY run_after, id LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING \(jobColumns)
        """, sqlite: """
        UPDATE jobs SET state = 'running', attempts = attempts + 1, claimed_at = $2, updated_at = $2
        WHERE id = (SELECT id FROM jobs WHERE kind = $1 AND ((state = 'queued' AND run_after <= $2)
                    OR (state = 'running' AND claimed_at < $3))
                    ORDER BY run_after, id LIMIT 1)
        RETURNING \(jobColumns)
        """, parameters: 3)
    static let completeJob = Query("job_complete", """
        UPDATE jobs SET state = 'succeeded', result = $2, error = NULL, updated_at = $3
        WHERE id = $1 AND state = 'running' RETURNING \(jobColumns)
        """, parameters: 3)
    static let failJob = Query("job_fail", """
        UPDATE jobs SET state = CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END,
                        error = $2, run_after = $3, updated_at = $4
        WHERE id = $1 AND state = 'running' RETURNING \(jobColumns)
        """, parameters: 4)
    static let selectJob = Query("job_select", "SELECT \(jobColumns) FROM jobs WHERE tenant_id = $1 AND id = $2", parameters: 2)

    public func enqueueJob(tenantID: String, kind: String, payload: String, maxAttempts: Int = 3, runAfter: Int64? = nil,
                           on loop: EventLoop, _ done: @escaping (Result<Job, StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in
            try Validation.tenantID(tenantID)
            try Validation.identifier(kind, "job kind", maximumBytes: 64)
            _ = try Validation.metadata(payload)
            guard (1...100).contains(maxAttempts) else { throw .invalid("max attempts must be between 1 and 100") }
        }) else { return }
        let now = Store.now
        let statement = Store.insertJob(.text(tenantID), .text(kind), .json(payload), .integer(Int64(maxAttempts)),
                                        .integer(runAfter ?? now), .integer(now))
        unit([statement], on: loop, done) { results throws(StoreError) in
            guard let row = results[0].rows.first else { throw .internalError("insert returned no row") }
            return try Store.job(row)
        }
    }

    /// Claims the next due job of `kind`, or nil. A claim lasts `leaseMilliseconds`; a job
    /// neither completed nor failed by then can be claimed again.
    public func claimJob(kind: String, leaseMilliseconds: Int64 = 300_000, on loop: EventLoop,
                         _ done: @escaping (Result<Job?, StoreError>) -> Void) {
        let now = Store.now
        unit([Store.claimJob(.text(kind), .integer(now), .integer(now - leaseMilliseconds))], on: loop, done) { results throws(StoreError) in
            try results[0].rows.first.map(Store.job)
        }
    }

    public func completeJob(id: Int64, result: String, on loop: EventLoop, _ done: @escaping (Result<Job, StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in _ = try Validation.metadata(result) }) else { return }
        unit([Store.completeJob(.integer(id), .json(result), .integer(Store.now))], on: loop, done) { results throws(StoreError) in
            guard let row = results[0].rows.first else { throw .conflict("job \(id) is not running") }
            return try Store.job(row)
        }
    }

    /// Records a failed attempt: the job is queued again after `retryAfterMilliseconds` while
    /// attempts remain, else it is failed for good.
    public func failJob(id: Int64, error message: String, retryAfterMilliseconds: Int64 = 1000, on loop: EventLoop,
                        _ done: @escaping (Result<Job, StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in try Validation.text(message, "error") }) else { return }
        let now = Store.now
        let statement = Store.failJob(.integer(id), .text(message), .integer(now + retryAfterMilliseconds), .integer(now))
        unit([statement], on: loop, done) { results throws(StoreError) in
            guard let row = results[0].rows.first else { throw .conflict("job \(id) is not running") }
            return try Store.job(row)
        }
    }

    public func job(tenantID: String, id: Int64, on loop: EventLoop, _ done: @escaping (Result<Job, StoreError>) -> Void) {
        unit([Store.selectJob(.text(tenantID), .integer(id))], readOnly: true, on: loop, done) { results throws(StoreError) in
            guard let row = results[0].rows.first else { throw .notFound("job \(id)") }
            return try Store.job(row)
        }
    }

    static func job(_ row: [SQLValue]) throws(StoreError) -> Job {
        guard let state = Job.State(rawValue: try row.text(4)) else { throw .internalError("unknown job state") }
        return Job(id: try row.integer(0), tenantID: try row.text(1), kind: try row.text(2), payload: try row.text(3),
                   state: state, attempts: Int(try row.integer(5)), maxAttempts: Int(try row.integer(6)),
                   runAfter: try row.integer(7), result: row.optionalText(8), error: row.optionalText(9))
    }
}
