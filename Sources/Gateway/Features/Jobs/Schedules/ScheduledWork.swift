import Foundation
import Net
import Storage

/// What each scheduled task does. Every task is safe to run twice for one slot (a runner
/// taken over after its lease ran out runs the slot again): a backup or a snapshot copy is
/// named by its slot and moved into place whole, a roll-up moves rows in one unit, a sweep
/// ends only what is over.
struct ScheduledWork: Sendable {
    let store: Store
    let storage: StoreConfiguration
    /// The process's indexes; nil in `aiwriter worker`, which holds none.
    let collections: CollectionEngine?
    let jobLeaseMs: UInt64

    static let defaultKeep = 7
    static let scheduleRunRetentionMs: Int64 = 30 * 86_400_000

    /// Whether this process can run `task`.
    func canRun(_ task: ScheduleConfiguration.Task) -> Bool {
        task != .indexSnapshot || collections != nil
    }

    /// Runs the schedule's task for `slot`; `done` (on `loop`) gets the failure, nil on success.
    func perform(_ schedule: ScheduleConfiguration, slot: Int64, on loop: EventLoop, _ done: @escaping (String?) -> Void) {
        switch schedule.task {
        case .leaseSweep:
            let now = Store.now
            store.sweepExpiredJobs(kind: JobContext.generationKind, leaseMilliseconds: Int64(jobLeaseMs), on: loop) { [store] swept in
                store.pruneScheduleRuns(before: now - ScheduledWork.scheduleRunRetentionMs, on: loop) { pruned in
                    switch (swept, pruned) {
                    case (.failure(let error), _), (_, .failure(let error)): done("\(error)")
                    case (.success, .success): done(nil)
                    }
                }
            }
        case .usageRollup:
            let keepDays = Int64(schedule.keep ?? 30)
            store.rollUpUsage(beforeDay: Store.now / 86_400_000 - keepDays, on: loop) { result in
                if case .failure(let error) = result { return done("\(error)") }
                done(nil)
            }
        case .backup:
            let (store, storage) = (self.store, self.storage)
            loop.submit({ () -> String? in
                do throws(ScheduledWork.Failure) {
                    let directory = try ScheduledWork.makeDirectory(schedule.directory ?? "")
                    let path = directory + "/aiwriter-" + ScheduledWork.stamp(slot) + ".bak"
                    do { _ = try Backup.create(backend: store.backend, configuration: storage, to: path) } catch {
                        throw Failure("backup to \(path): \(error)")
                    }
                    ScheduledWork.prune(directory, prefix: "aiwriter-", suffix: ".bak", keep: schedule.keep ?? ScheduledWork.defaultKeep,
                                        siblings: [".counts"])
                    return nil
                } catch {
                    return error.description
                }
            }, completion: done)
        case .indexSnapshot:
            guard let collections else { return done("this process holds no collection index") }
            loop.submit({ () -> String? in
                collections.writeSnapshots(on: nil)
                guard let target = schedule.directory else { return nil }
                do throws(ScheduledWork.Failure) {
                    let directory = try ScheduledWork.makeDirectory(target)
                    try ScheduledWork.copySnapshots(from: collections.snapshotDirectory, to: directory + "/snapshots-" + ScheduledWork.stamp(slot))
                    ScheduledWork.prune(directory, prefix: "snapshots-", suffix: "", keep: schedule.keep ?? ScheduledWork.defaultKeep, siblings: [])
                    return nil
                } catch {
                    return error.description
                }
            }, completion: done)
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// `20261203T150000Z`: sorts as the slots do, so retention keeps the newest by name.
    static func stamp(_ milliseconds: Int64) -> String {
        let seconds = milliseconds / 1000
        let day = seconds / 86_400
        let (year, month, dayOfMonth) = CivilDate.date(day)
        let second = seconds - day * 86_400
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(year)\(two(month))\(two(dayOfMonth))T\(two(second / 3600))\(two(second / 60 % 60))\(two(second % 60))Z"
    }

    static func makeDirectory(_ path: String) throws(Failure) -> String {
        guard !path.isEmpty else { throw Failure("no directory") }
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw Failure("cannot create \(path): \(error.localizedDescription)")
        }
        return path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
    }

    /// Copies the snapshot files into `destination` (built aside, then renamed: a folder that
    /// exists is whole). An empty index folder copies as an empty folder.
    static func copySnapshots(from source: String, to destination: String) throws(Failure) {
        let files = FileManager.default
        let temporary = destination + ".partial"
        try? files.removeItem(atPath: temporary)
        do {
            try files.createDirectory(atPath: temporary, withIntermediateDirectories: true)
            for name in (try? files.contentsOfDirectory(atPath: source)) ?? [] where name.hasSuffix(".hnsw") {
                try files.copyItem(atPath: source + "/" + name, toPath: temporary + "/" + name)
            }
            try? files.removeItem(atPath: destination)
            try files.moveItem(atPath: temporary, toPath: destination)
        } catch {
            try? files.removeItem(atPath: temporary)
            throw Failure("cannot copy the index snapshots to \(destination): \(error.localizedDescription)")
        }
    }

    /// Keeps the newest `keep` entries named `prefix…suffix` (and their `siblings`), and
    /// removes what an interrupted run left half-written (`….partial`).
    static func prune(_ directory: String, prefix: String, suffix: String, keep: Int, siblings: [String]) {
        let files = FileManager.default
        let names = (try? files.contentsOfDirectory(atPath: directory)) ?? []
        for name in names where name.hasPrefix(prefix) && name.hasSuffix(".partial") {
            try? files.removeItem(atPath: directory + "/" + name)
        }
        let kept = names.filter { $0.hasPrefix(prefix) && $0.hasSuffix(suffix) && !$0.hasSuffix(".partial") && !$0.hasSuffix(".counts") }.sorted()
        for name in kept.dropLast(keep) {
            try? files.removeItem(atPath: directory + "/" + name)
            for sibling in siblings { try? files.removeItem(atPath: directory + "/" + name + sibling) }
        }
    }
}
