import Logging
import Net
import Storage
import Synchronization

/// What a job's run needs: the one Store, the AI proxy's one path, the settings, the
/// document cache a new version must reach, the log.
struct JobContext: Sendable {
    let store: Store
    let proxy: AIProxy
    let settings: JobsConfiguration
    let documentCache: DocumentCache?
    let logger: Logger

    /// The kind of job the generation routes queue and these workers run.
    static let generationKind = "generation"
}

/// A process's job workers: `jobs-workers` slots spread over the loops, each loop claiming
/// for its own slots (`GenerationWorker`), so a job lives on one loop with no lock. (The
/// running jobs whose last attempt's lease ran out are ended by the `lease-sweep` schedule.)
///
/// Drain (SIGTERM): no new claims; the jobs in hand finish, and whatever is still running at
/// the deadline is stopped and handed back to the queue (its attempt not counted) for another
/// worker, instead of waiting out a lease.
final class JobWorkers: Sendable {
    let context: JobContext
    let slots: Int
    private let workers = Mutex<[GenerationWorker.Handle]>([])

    init(context: JobContext, slots: Int) {
        self.context = context
        self.slots = slots
    }

    /// Starts the workers on `group`'s loops (before or after the group starts).
    func start(on group: EventLoopGroup) {
        let loops = group.loops
        let processTag = String(Digests.randomUInt64() & 0xFFFF_FFFF, radix: 16)
        for (i, loop) in loops.enumerated() {
            let share = slots / loops.count + (i < slots % loops.count ? 1 : 0)
            guard share > 0 else { continue }
            let handle = GenerationWorker.Handle(loop: loop)
            workers.withLock { $0.append(handle) }
            let context = self.context
            loop.execute {
                let worker = GenerationWorker(loop: loop, slots: share, context: context, tag: "\(processTag)-\(i)")
                handle.worker = worker
                worker.tick()
            }
        }
    }

    /// Stops claiming; `finished` runs (on some loop) once no job is in hand.
    func drain(_ finished: @escaping @Sendable () -> Void) {
        let handles = workers.withLock { $0 }
        guard !handles.isEmpty else { return finished() }
        let remaining = Atomic<Int>(handles.count)
        for handle in handles {
            handle.loop.execute {
                guard let worker = handle.worker else {
                    if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { finished() }
                    return
                }
                worker.drain {
                    if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { finished() }
                }
            }
        }
    }

    /// The drain's deadline: every job still in hand is handed back.
    func releaseAll() {
        for handle in workers.withLock({ $0 }) {
            handle.loop.execute { handle.worker?.releaseAll() }
        }
    }
}

/// One loop's job slots: claims as many jobs as slots are free, in one unit (at once after a claim, every
/// `jobs-poll-interval` when the queue was empty, backing off while the database is away).
/// Loop-owned.
final class GenerationWorker {
    /// Where a loop's worker is found from other threads.
    final class Handle: @unchecked Sendable {
        // @unchecked: `worker` is set and read only on `loop`.
        let loop: EventLoop
        var worker: GenerationWorker?
        init(loop: EventLoop) { self.loop = loop }
    }

    let loop: EventLoop
    let slots: Int
    let context: JobContext
    let tag: String
    var running: [Int64: GenerationRun] = [:]
    var claiming = false
    /// Jobs claimed as the drain began, on their way back to the queue.
    var releasing = 0
    var draining = false
    var drained: (() -> Void)?
    var timer: ScheduledTask?
    var failures = 0
    var claims: UInt64 = 0
    /// The most jobs one claim takes: a busy queue fills free slots in a round trip, and no
    /// worker hoards what another could start sooner.
    static let claimBatch = 16

    init(loop: EventLoop, slots: Int, context: JobContext, tag: String) {
        self.loop = loop
        self.slots = slots
        self.context = context
        self.tag = tag
    }

    func tick() {
        timer?.cancel()
        timer = nil
        guard !draining, !loop.isStopping else { return }
        guard !claiming, running.count < slots else { return }
        claiming = true
        claims &+= 1
        let claim = "\(tag)-\(claims)-\(String(Digests.randomUInt64(), radix: 16))"
        let free = slots - running.count
        context.store.claimJobs(kind: JobContext.generationKind, claim: claim, leaseMilliseconds: Int64(context.settings.leaseMs),
                                limit: min(free, GenerationWorker.claimBatch), on: loop) { [self] result in
            claiming = false
            switch result {
            case .success(let jobs) where !jobs.isEmpty:
                failures = 0
                guard !draining else {
                    // Claimed as the drain began: handed straight back.
                    releasing += jobs.count
                    for job in jobs {
                        context.store.releaseJob(id: job.id, claim: claim, on: loop) { [self] _ in
                            releasing -= 1
                            finishDrainIfIdle()
                        }
                    }
                    return
                }
                for job in jobs {
                    let run = GenerationRun(job: job, claim: claim, context: context, loop: loop) { [self] in ended(job.id) }
                    running[job.id] = run
                    run.start()
                }
                tick()
            case .success:
                failures = 0
                if draining { return finishDrainIfIdle() }
                arm(context.settings.pollIntervalMs)
            case .failure(let error):
                if draining { return finishDrainIfIdle() }
                failures += 1
                if failures == 1 { context.logger.warning("cannot claim jobs", metadata: ["error": .string("\(error)")]) }
                arm(min(5_000, context.settings.pollIntervalMs << UInt64(min(failures, 6))))
            }
        }
    }

    func arm(_ ms: UInt64) {
        guard !draining else { return }
        timer?.cancel()
        timer = loop.schedule(afterMilliseconds: max(1, ms)) { [self] in tick() }
    }

    func ended(_ id: Int64) {
        running[id] = nil
        if draining { return finishDrainIfIdle() }
        tick()
    }

    func drain(_ finished: @escaping () -> Void) {
        draining = true
        timer?.cancel()
        timer = nil
        drained = finished
        finishDrainIfIdle()
    }

    /// The drain is done once no job is in hand and no claim or hand-back is in flight.
    func finishDrainIfIdle() {
        guard draining, running.isEmpty, !claiming, releasing == 0, let drained else { return }
        self.drained = nil
        drained()
    }

    func releaseAll() {
        for run in running.values { run.release() }
    }
}
