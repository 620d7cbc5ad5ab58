import Net

/// Scheduled jobs' bookkeeping: one row per schedule, so that every replica and worker
/// process can try to run a due slot and exactly one of them does.
///
/// A row says when the schedule is next due (`next_at`) and, while a run is on, who holds it
/// (`holder`, a token per claim) until when (`lease_until`, renewed by heartbeats). A claim is
/// one conditional UPDATE — due and unheld, or held by a runner whose lease ran out — so two
/// processes asking at once cannot both win. The claim moves `next_at` to the first slot
/// after *now*, not after the slot it runs: after downtime the missed slots run once, not
/// once each. A run taken over after its runner died keeps its slot and runs it again.
extension Store {
    static let scheduleColumns = "name, cron, next_at, slot, holder, lease_until, runs, last_started_at, last_finished_at, last_error"

    /// A new schedule, or one whose expression changed, is next due at `$3`; otherwise the row
    /// (and its next slot) stands, so a restart never moves a slot.
    static let registerSchedule = Query("schedule_register", """
        INSERT INTO schedules (name, cron, next_at) VALUES ($1, $2, $3)
        ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, next_at = excluded.next_at
        WHERE schedules.cron <> excluded.cron
        """, parameters: 3)
    static let selectSchedule = Query("schedule_select", "SELECT \(scheduleColumns) FROM schedules WHERE name = $1", parameters: 1)
    /// $1 name, $2 holder, $3 now, $4 the first slot after now, $5 the lease's end.
    static let claimSchedule = Query("schedule_claim", """
        UPDATE schedules SET
            slot = CASE WHEN holder IS NULL THEN next_at ELSE slot END,
            next_at = CASE WHEN next_at <= $3 THEN $4 ELSE next_at END,
            holder = $2, lease_until = $5, last_started_at = $3
        WHERE name = $1 AND ((holder IS NULL AND next_at <= $3) OR (holder IS NOT NULL AND lease_until < $3))
        RETURNING \(scheduleColumns)
        """, parameters: 5)
    static let recordScheduleRun = Query("schedule_run_insert", postgres: """
        INSERT INTO schedule_runs (name, slot, holder, started_at)
        SELECT name, slot, holder, $3::bigint FROM schedules WHERE name = $1 AND holder = $2
        ON CONFLICT (name, slot) DO UPDATE SET holder = excluded.holder, started_at = excluded.started_at, finished_at = NULL, error = NULL
        """, sqlite: """
        INSERT INTO schedule_runs (name, slot, holder, started_at)
        SELECT name, slot, holder, $3 FROM schedules WHERE name = $1 AND holder = $2
        ON CONFLICT (name, slot) DO UPDATE SET holder = excluded.holder, started_at = excluded.started_at, finished_at = NULL, error = NULL
        """, parameters: 3)
    static let heartbeatSchedule = Query("schedule_heartbeat", """
        UPDATE schedules SET lease_until = $3 WHERE name = $1 AND holder = $2
        """, parameters: 3)
    static let finishScheduleRun = Query("schedule_run_finish", """
        UPDATE schedule_runs SET finished_at = $3, error = $4
        WHERE name = $1 AND holder = $2 AND slot = (SELECT slot FROM schedules WHERE name = $1 AND holder = $2)
        """, parameters: 4)
    static let finishSchedule = Query("schedule_finish", """
        UPDATE schedules SET holder = NULL, lease_until = NULL, runs = runs + 1, last_finished_at = $3, last_error = $4
        WHERE name = $1 AND holder = $2
        """, parameters: 4)
    static let listScheduleRuns = Query("schedule_runs", """
        SELECT name, slot, holder, started_at, finished_at, error FROM schedule_runs WHERE name = $1 ORDER BY slot DESC LIMIT $2
        """, parameters: 2)
    static let pruneScheduleRuns = Query("schedule_runs_prune", "DELETE FROM schedule_runs WHERE started_at < $1", parameters: 1)

    static func scheduleState(_ row: [SQLValue]) throws(StoreError) -> ScheduleState {
        ScheduleState(name: try row.text(0), cron: try row.text(1), nextAt: try row.integer(2), slot: row[3].int,
                      holder: row[4].string, leaseUntil: row[5].int, runs: try row.integer(6),
                      lastStartedAt: row[7].int, lastFinishedAt: row[8].int, lastError: row[9].string)
    }

    /// Makes sure the schedule has its row: a new one (or one whose `cron` changed) is next
    /// due at `nextAt`. Returns the row as it stands.
    public func registerSchedule(name: String, cron: String, nextAt: Int64, on loop: EventLoop,
                                 _ done: @escaping (Result<ScheduleState, StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in try Validation.identifier(name, "schedule name", maximumBytes: Validation.maximumNameBytes) }) else { return }
        unit([Store.registerSchedule(.text(name), .text(cron), .integer(nextAt)), Store.selectSchedule(.text(name))], on: loop, done) { results throws(StoreError) in
            guard let row = results[1].rows.first else { throw .internalError("schedule \(name) has no row after its insert") }
            return try Store.scheduleState(row)
        }
    }

    /// Tries to take the schedule's run: when it is due and unheld, or its holder's lease ran
    /// out. `claimed` says whether `holder` now holds it; `state` is the row either way (when
    /// to ask next). `nextAfterNow` is the schedule's first slot after `now`.
    public func claimSchedule(name: String, holder: String, now: Int64, nextAfterNow: Int64, leaseMilliseconds: Int64,
                              on loop: EventLoop, _ done: @escaping (Result<(state: ScheduleState, claimed: Bool), StoreError>) -> Void) {
        let statements = [
            Store.claimSchedule(.text(name), .text(holder), .integer(now), .integer(nextAfterNow), .integer(now + leaseMilliseconds)),
            Store.recordScheduleRun(.text(name), .text(holder), .integer(now)),
            Store.selectSchedule(.text(name)),
        ]
        unit(statements, on: loop, done) { results throws(StoreError) in
            guard let row = results[2].rows.first else { throw .notFound("schedule \(name)") }
            return (try Store.scheduleState(row), !results[0].rows.isEmpty)
        }
    }

    /// Renews the run's lease to `leaseUntil`; false when `holder` no longer holds it.
    public func heartbeatSchedule(name: String, holder: String, leaseUntil: Int64, on loop: EventLoop,
                                  _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        unit([Store.heartbeatSchedule(.text(name), .text(holder), .integer(leaseUntil))], on: loop, done) { $0[0].affected == 1 }
    }

    /// Ends the run (with its error, if it failed); false when `holder` no longer held it.
    public func finishSchedule(name: String, holder: String, error: String?, on loop: EventLoop,
                               _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        let now = Store.now
        let message = error.map { SQLValue.text(String(decoding: $0.utf8.prefix(4096), as: UTF8.self)) } ?? .null
        unit([Store.finishScheduleRun(.text(name), .text(holder), .integer(now), message),
              Store.finishSchedule(.text(name), .text(holder), .integer(now), message)], on: loop, done) { $0[1].affected == 1 }
    }

    public func scheduleState(name: String, on loop: EventLoop, _ done: @escaping (Result<ScheduleState?, StoreError>) -> Void) {
        unit([Store.selectSchedule(.text(name))], readOnly: true, on: loop, done) { results throws(StoreError) in
            try results[0].rows.first.map(Store.scheduleState)
        }
    }

    /// The schedule's runs, latest slot first.
    public func scheduleRuns(name: String, limit: Int = 1_000, on loop: EventLoop, _ done: @escaping (Result<[ScheduleRun], StoreError>) -> Void) {
        unit([Store.listScheduleRuns(.text(name), .integer(Int64(limit)))], readOnly: true, on: loop, done) { results throws(StoreError) in
            try results[0].rows.map { row throws(StoreError) in
                ScheduleRun(name: try row.text(0), slot: try row.integer(1), holder: try row.text(2), startedAt: try row.integer(3),
                            finishedAt: row[4].int, error: row[5].string)
            }
        }
    }

    /// Forgets runs that started before `before`; how many.
    public func pruneScheduleRuns(before: Int64, on loop: EventLoop, _ done: @escaping (Result<Int, StoreError>) -> Void) {
        unit([Store.pruneScheduleRuns(.integer(before))], on: loop, done) { $0[0].affected }
    }

    // MARK: Usage roll-ups

    static let rollUpUsage = Query("usage_roll_up", postgres: """
        INSERT INTO usage_daily (tenant_id, day, key_id, model, requests, prompt_tokens, completion_tokens, cache_hits, errors)
        SELECT tenant_id, at / 86400000, COALESCE(key_id, ''), COALESCE(model, ''), count(*), COALESCE(sum(prompt_tokens), 0)::bigint,
               COALESCE(sum(completion_tokens), 0)::bigint, count(CASE WHEN cache IN ('hit', 'semantic') THEN 1 END),
               count(CASE WHEN status >= 400 THEN 1 END)
        FROM usage WHERE at < $1::bigint GROUP BY 1, 2, 3, 4
        ON CONFLICT (tenant_id, day, key_id, model) DO UPDATE SET
            requests = usage_daily.requests + excluded.requests, prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens,
            completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens,
            cache_hits = usage_daily.cache_hits + excluded.cache_hits, errors = usage_daily.errors + excluded.errors
        """, sqlite: """
        INSERT INTO usage_daily (tenant_id, day, key_id, model, requests, prompt_tokens, completion_tokens, cache_hits, errors)
        SELECT tenant_id, at / 86400000, COALESCE(key_id, ''), COALESCE(model, ''), count(*), COALESCE(sum(prompt_tokens), 0),
               COALESCE(sum(completion_tokens), 0), count(CASE WHEN cache IN ('hit', 'semantic') THEN 1 END),
               count(CASE WHEN status >= 400 THEN 1 END)
        FROM usage WHERE at < $1 GROUP BY 1, 2, 3, 4
        ON CONFLICT (tenant_id, day, key_id, model) DO UPDATE SET
            requests = usage_daily.requests + excluded.requests, prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens,
            completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens,
            cache_hits = usage_daily.cache_hits + excluded.cache_hits, errors = usage_daily.errors + excluded.errors
        """, parameters: 1)
    static let deleteRolledUsage = Query("usage_roll_up_delete", "DELETE FROM usage WHERE at < $1", parameters: 1)

    /// Moves the usage rows of the UTC days before `beforeDay` (days since the epoch) into
    /// `usage_daily` — summed per tenant, day, key and model, then deleted, in one unit, so a
    /// roll-up run twice counts nothing twice. Returns how many raw rows it rolled up.
    /// `GET /v1/usage` and the budgets read both tables, so a roll-up changes no figure (only
    /// the per-call detail — target, latency — of those days is gone).
    public func rollUpUsage(beforeDay: Int64, on loop: EventLoop, _ done: @escaping (Result<Int, StoreError>) -> Void) {
        let cutoff = SQLValue.integer(beforeDay * 86_400_000)
        unit([Store.rollUpUsage(cutoff), Store.deleteRolledUsage(cutoff)], on: loop, done) { $0[1].affected }
    }
}

/// A schedule's row (see `Store.claimSchedule`).
public struct ScheduleState: Sendable, Equatable {
    public var name: String
    public var cron: String
    /// When the schedule is next due (milliseconds since the epoch).
    public var nextAt: Int64
    /// The slot the current (or last) run is for.
    public var slot: Int64?
    public var holder: String?
    public var leaseUntil: Int64?
    public var runs: Int64
    public var lastStartedAt: Int64?
    public var lastFinishedAt: Int64?
    public var lastError: String?
}

/// One slot's run.
public struct ScheduleRun: Sendable, Equatable {
    public var name: String
    public var slot: Int64
    public var holder: String
    public var startedAt: Int64
    public var finishedAt: Int64?
    public var error: String?
}
