import Dispatch
import Foundation
import Net
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One thread at a lower priority (nice 10) that runs background index work in order: linking
/// acknowledged records into a graph. Requests never wait on it — what it works on stays
/// searchable exactly meanwhile — so it should take only the CPU the loops leave. The shared
/// worker pool cannot be reniced (SQLite reads run there, and a thread's priority cannot be
/// raised back without privileges), hence a thread of its own: started on first use, gone a
/// second after its owner is.
final class BackgroundWorker: Sendable {
    private let state = Mutex<(jobs: [@Sendable () -> Void], started: Bool)>(([], false))
    private let wake = DispatchSemaphore(value: 0)
    let name: String

    init(name: String) { self.name = name }

    /// Runs `work` on the background thread, then `completion` with its result on `loop`.
    func run<T: Sendable>(_ work: @escaping @Sendable () -> T, completion: @escaping @Sendable (T) -> Void, on loop: EventLoop) {
        let start = state.withLock { s -> Bool in
            s.jobs.append { let result = work(); loop.execute { completion(result) } }
            defer { s.started = true }
            return !s.started
        }
        if start { startThread() }
        wake.signal()
    }

    private func startThread() {
        let thread = Thread { [weak self, wake] in
            // On Linux the nice value is per thread: this lowers only this one.
            setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
            while true {
                if wake.wait(timeout: .now() + 1) == .timedOut {
                    if self == nil { return }
                    continue
                }
                guard let owner = self else { return }
                guard let job = owner.next() else { continue }
                job()
            }
        }
        thread.name = name
        thread.start()
    }

    private func next() -> (@Sendable () -> Void)? {
        state.withLock { $0.jobs.isEmpty ? nil : $0.jobs.removeFirst() }
    }
}
