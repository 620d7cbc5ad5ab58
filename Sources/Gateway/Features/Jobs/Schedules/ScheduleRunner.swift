import Logging
import Net
import Storage
import Synchronization

/// Runs the configured schedules from one loop of this process — but each slot, across every
/// replica and worker sharing the database, in only one of them: a process asks the database
/// for a due slot (`Store.claimSchedule`, one conditional UPDATE) and runs it only when it won.
///
/// The database is asked only when a schedule is due by the row last read (or its holder's
/// lease runs out), so an idle schedule costs no query. A run holds a lease of `jobs-lease`,
/// renewed every third of it; a runner that dies mid-run (kill -9) is taken over once its lease
/// ends and the slot runs again, so a backup never silently goes missing. Drain: no new runs;
/// the one in hand finishes within the drain timeout, or is left to its lease.
final class ScheduleRunner: Sendable {
    let loop: EventLoop
    let state: State

    /// The schedules this process may run (`aiwriter worker` holds no index, so it never
    /// takes an `index-snapshot`).
    init(schedules: [ScheduleConfiguration], work: ScheduledWork, store: Store, leaseMs: UInt64, logger: Logger, loop: EventLoop) {
        self.loop = loop
        state = State(schedules: schedules, work: work, store: store, leaseMs: leaseMs, logger: logger, loop: loop)
    }

    func start() {
        let state = self.state
        loop.execute { state.register() }
    }

    /// Stops starting runs; `finished` once none is in hand.
    func drain(_ finished: @escaping @Sendable () -> Void) {
        let state = self.state
        loop.execute { state.drain(finished) }
    }

    /// The runner's loop-owned state.
    final class State: @unchecked Sendable {
        // @unchecked: created off-loop, then read and written only on `loop`.
        struct Entry {
            let schedule: ScheduleConfiguration
            /// Wall-clock milliseconds at which to ask the database next; nil until registered.
            var checkAt: Int64?
            /// The claim token of this process's run in hand.
            var running: String?
            var failures = 0
        }

        let loop: EventLoop
        let store: Store
        let work: ScheduledWork
        let leaseMs: Int64
        let logger: Logger
        let tag = String(Digests.randomUInt64(), radix: 16)
        var entries: [Entry]
        var claims: UInt64 = 0
        var timer: ScheduledTask?
        var draining = false
        var drained: (@Sendable () -> Void)?

        init(schedules: [ScheduleConfiguration], work: ScheduledWork, store: Store, leaseMs: UInt64, logger: Logger, loop: EventLoop) {
            entries = schedules.map { Entry(schedule: $0) }
            self.work = work
            self.store = store
            self.leaseMs = Int64(leaseMs)
            self.logger = logger
            self.loop = loop
        }

        /// Gives each schedule its row (a new one is due at its next slot: a schedule added
        /// today does not run for the slots before it existed).
        func register() {
            guard !draining else { return }
            let now = Store.now
            for (i, entry) in entries.enumerated() where entry.checkAt == nil {
                guard let next = entry.schedule.cron.next(after: now) else { continue }
                store.registerSchedule(name: entry.schedule.name, cron: entry.schedule.cron.description, nextAt: next, on: loop) { [self] result in
                    switch result {
                    case .success(let row):
                        entries[i].failures = 0
                        entries[i].checkAt = checkTime(after: row, now: Store.now)
                    case .failure(let error):
                        backOff(i, error, "cannot register the schedule")
                    }
                    arm()
                }
            }
        }

        /// When to ask about a row next: at its next slot, or when another holder's lease ends.
        func checkTime(after row: ScheduleState, now: Int64) -> Int64 {
            if let holder = row.holder, !holder.hasPrefix(tag), let until = row.leaseUntil { return max(now + 1, until + 1) }
            return row.nextAt
        }

        func backOff(_ i: Int, _ error: StoreError, _ what: String) {
            entries[i].failures += 1
            if entries[i].failures == 1 {
                logger.warning("\(what)", metadata: ["schedule": .string(entries[i].schedule.name), "error": .string("\(error)")])
            }
            entries[i].checkAt = Store.now + min(30_000, 500 << Int64(min(entries[i].failures, 6)))
        }

        func arm() {
            timer?.cancel()
            timer = nil
            guard !draining else { return }
            let now = Store.now
            let unregistered = entries.contains { $0.checkAt == nil }
            let due = entries.compactMap { $0.running == nil ? $0.checkAt : nil }.min()
            // Wall-clock deadlines on a monotonic timer: at most a minute apart, so a clock
            // step is caught up with soon.
            var wait = due.map { max(0, $0 - now) } ?? 60_000
            if unregistered { wait = min(wait, 5_000) }
            timer = loop.schedule(afterMilliseconds: UInt64(min(wait, 60_000))) { [self] in tick() }
        }

        func tick() {
            timer = nil
            guard !draining else { return }
            if entries.contains(where: { $0.checkAt == nil }) { register() }
            let now = Store.now
            for i in entries.indices {
                guard entries[i].running == nil, let at = entries[i].checkAt, at <= now else { continue }
                claim(i, now: now)
            }
            arm()
        }

        func claim(_ i: Int, now: Int64) {
            let schedule = entries[i].schedule
            guard let next = schedule.cron.next(after: now) else { return }
            claims &+= 1
            let holder = "\(tag)-\(claims)"
            entries[i].running = holder
            store.claimSchedule(name: schedule.name, holder: holder, now: now, nextAfterNow: next, leaseMilliseconds: leaseMs, on: loop) { [self] result in
                switch result {
                case .success((let row, true)):
                    entries[i].failures = 0
                    guard !draining else {
                        // Won as the drain began: let the lease hand it to another runner.
                        entries[i].running = nil
                        return finishDrainIfIdle()
                    }
                    run(i, holder: holder, slot: row.slot ?? now, nextAt: row.nextAt)
                case .success((let row, false)):
                    entries[i].failures = 0
                    entries[i].running = nil
                    entries[i].checkAt = checkTime(after: row, now: Store.now)
                    if draining { return finishDrainIfIdle() }
                case .failure(let error):
                    entries[i].running = nil
                    backOff(i, error, "cannot claim the schedule's run")
                    if draining { return finishDrainIfIdle() }
                }
                arm()
            }
        }

        func run(_ i: Int, holder: String, slot: Int64, nextAt: Int64) {
            let schedule = entries[i].schedule
            let started = loop.nowMilliseconds
            logger.info("scheduled job started", metadata: ["schedule": .string(schedule.name), "task": .string(schedule.task.rawValue),
                                                            "slot": .stringConvertible(slot)])
            var heartbeat: ScheduledTask?
            func beat() {
                heartbeat = loop.schedule(afterMilliseconds: UInt64(max(100, leaseMs / 3))) { [self] in
                    store.heartbeatSchedule(name: schedule.name, holder: holder, leaseUntil: Store.now + leaseMs, on: loop) { [self] result in
                        if case .success(false) = result {
                            logger.warning("scheduled job's lease was lost; another runner may run its slot again", metadata: ["schedule": .string(schedule.name)])
                        }
                    }
                    beat()
                }
            }
            beat()
            work.perform(schedule, slot: slot, on: loop) { [self] failure in
                heartbeat?.cancel()
                var metadata: Logger.Metadata = ["schedule": .string(schedule.name), "ms": .stringConvertible(loop.nowMilliseconds &- started)]
                if let failure {
                    metadata["error"] = .string(failure)
                    logger.error("scheduled job failed", metadata: metadata)
                } else {
                    logger.info("scheduled job done", metadata: metadata)
                }
                store.finishSchedule(name: schedule.name, holder: holder, error: failure, on: loop) { [self] result in
                    entries[i].running = nil
                    if case .failure(let error) = result {
                        logger.warning("cannot record the scheduled job's end; its lease will", metadata: ["schedule": .string(schedule.name), "error": .string("\(error)")])
                    }
                    // The claim moved the row's next slot to the first after the claim.
                    entries[i].checkAt = nextAt
                    if draining { return finishDrainIfIdle() }
                    arm()
                }
            }
        }

        func drain(_ finished: @escaping @Sendable () -> Void) {
            draining = true
            timer?.cancel()
            timer = nil
            drained = finished
            finishDrainIfIdle()
        }

        func finishDrainIfIdle() {
            guard draining, entries.allSatisfy({ $0.running == nil }), let drained else { return }
            self.drained = nil
            drained()
        }
    }
}
