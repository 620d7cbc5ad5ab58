import CUV

/// The loop as the executor of `async` code.
///
/// A job enqueued from the loop's own thread (a continuation resumed by a callback, a task
/// spawned by a handler) runs after the current turn's callbacks, with no wake-up; one enqueued
/// from another thread goes through `execute` (its locked queue and `uv_async_send`).
/// Jobs therefore run in the order they were enqueued from any one thread, one at a time, on
/// the loop's thread: a serial executor.
extension EventLoop: SerialExecutor, TaskExecutor {
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if isInLoop && runningThread != nil {
            afterTurnJobs.append(job)
            armAfterTurn()
        } else {
            execute { [self] in run(job) }
        }
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }

    public func isSameExclusiveExecutionContext(other: EventLoop) -> Bool { other === self }

    public func checkIsolated() {
        precondition(isInLoop, "expected to run on event loop \(threadName)")
    }

    func run(_ job: UnownedJob) {
        job.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
    }

    /// Runs `body` as a task whose executor is this loop: every step of it, and every
    /// resumption after an `await`, runs on this loop's thread. Callable from any thread.
    public func spawn(_ body: sending @escaping () async -> Void) {
        Task(executorPreference: self, operation: body)
    }

    /// Awaits an operation that reports through a completion handler on this loop (the
    /// Store's, the limiter's): the callback→async bridge, written once. `start` runs on this
    /// loop — at once when the task already runs here (a flow spawned on it: its continuation
    /// resumes here too, no preference to push), after a hop otherwise — and the caller stays
    /// on the loop afterwards.
    public func awaiting<T, Failure: Error>(
        _ start: (@escaping (Result<T, Failure>) -> Void) -> Void
    ) async throws(Failure) -> T {
        if EventLoop.current === self { return try await resume(start) }
        return try await withTaskExecutorPreference(self) { () async throws(Failure) -> T in try await resume(start) }
    }

    private func resume<T, Failure: Error>(
        _ start: (@escaping (Result<T, Failure>) -> Void) -> Void
    ) async throws(Failure) -> T {
        let result: Result<T, Failure> = await withUnsafeContinuation { continuation in
            start { continuation.resume(returning: UncheckedResult($0)) }
        }.value
        return try result.get()
    }
}

/// Carries a result from a completion (run on the loop) to the awaiting task (on the same
/// loop): never shared across threads, so not Sendable-checked.
struct UncheckedResult<T, Failure: Error>: @unchecked Sendable {
    // @unchecked: made and consumed on one loop's thread (see `EventLoop.awaiting`).
    let value: Result<T, Failure>
    init(_ value: Result<T, Failure>) { self.value = value }
}
