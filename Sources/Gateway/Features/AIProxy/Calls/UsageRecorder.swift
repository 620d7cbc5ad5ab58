import Logging
import Net
import Storage

/// The usage rows of one loop's AI calls, written in batches: a row per call would be a write
/// per request on the hot path; one insert unit per half second (or per 256 calls) is not.
/// A crash loses at most the rows of that last half second. Loop-owned.
final class UsageRecorder {
    let loop: EventLoop
    let store: Store
    let logger: Logger
    let timer: LoopTimer
    var pending: [UsageRow] = []
    var writing = false

    static let batch = 256
    static let intervalMs: UInt64 = 500

    init(loop: EventLoop, store: Store, logger: Logger) {
        self.loop = loop
        self.store = store
        self.logger = logger
        timer = LoopTimer(loop: loop)
        loop.onStop { [timer] in timer.close() }
    }

    func record(_ row: UsageRow) {
        pending.append(row)
        if pending.count >= UsageRecorder.batch {
            flush()
        } else if !timer.isArmed {
            timer.arm(afterMilliseconds: UsageRecorder.intervalMs) { [self] in flush() }
        }
    }

    func flush() {
        guard !pending.isEmpty, !writing else { return }
        let rows = pending
        pending = []
        writing = true
        store.recordUsage(rows, on: loop) { [self] result in
            writing = false
            if case .failure(let error) = result {
                logger.warning("usage rows not written", metadata: ["rows": .stringConvertible(rows.count), "error": .string("\(error)")])
            }
            if !pending.isEmpty, !timer.isArmed {
                timer.arm(afterMilliseconds: UsageRecorder.intervalMs) { [self] in flush() }
            }
        }
    }
}
