/// One entry of the `schedules` key: a named task and the cron expression it runs on.
///
/// ```yaml
/// schedules:
///   - {name: nightly-backup, cron: "0 3 * * *", task: backup, directory: /var/backups/aiwriter, keep: 14}
///   - {name: index-snapshots, cron: "*/15 * * * *", task: index-snapshot, directory: /var/backups/aiwriter-indexes, keep: 4}
///   - {name: usage-rollup, cron: "@daily", task: usage-rollup, keep: 30}
///   - {name: lease-sweep, cron: "*/10 * * * * *", task: lease-sweep}
/// ```
public struct ScheduleConfiguration: Sendable, Equatable, Decodable {
    public enum Task: String, Sendable, Codable, CaseIterable {
        /// `aiwriter backup` into `directory` (required), keeping the newest `keep` (default 7).
        case backup
        /// Writes every changed collection index snapshot now; with `directory`, also copies the
        /// snapshots there, in a folder per run, keeping the newest `keep` (default 7). Only
        /// `serve` holds indexes, so `aiwriter worker` processes never take this one.
        case indexSnapshot = "index-snapshot"
        /// Rolls usage rows older than `keep` days (default 30) up into daily sums.
        case usageRollup = "usage-rollup"
        /// Ends generation jobs whose last attempt's lease ran out, and forgets schedule runs
        /// older than 30 days.
        case leaseSweep = "lease-sweep"
    }

    public var name: String
    public var cron: CronExpression
    public var task: Task
    public var directory: String?
    public var keep: Int?

    public init(name: String, cron: CronExpression, task: Task, directory: String? = nil, keep: Int? = nil) {
        self.name = name
        self.cron = cron
        self.task = task
        self.directory = directory
        self.keep = keep
    }

    enum CodingKeys: String, CodingKey { case name, cron, task, directory, keep }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        let text = try container.decode(String.self, forKey: .cron)
        do { cron = try CronExpression(text) } catch {
            throw DecodingError.dataCorruptedError(forKey: .cron, in: container, debugDescription: "schedule \(name): \(error)")
        }
        let taskName = try container.decode(String.self, forKey: .task)
        guard let task = Task(rawValue: taskName) else {
            throw DecodingError.dataCorruptedError(forKey: .task, in: container,
                debugDescription: "schedule \(name): unknown task \(taskName) (one of \(Task.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        self.task = task
        directory = try container.decodeIfPresent(String.self, forKey: .directory)
        keep = try container.decodeIfPresent(Int.self, forKey: .keep)
    }

    /// The schedules every process has unless the `schedules` key names its own: the lease
    /// sweep every ten seconds and a nightly usage roll-up. A list without a `lease-sweep`
    /// entry still gets this one, as nothing else ends a job whose last worker died.
    public static let defaults = [
        ScheduleConfiguration(name: "lease-sweep", cron: try! CronExpression("*/10 * * * * *"), task: .leaseSweep),
        ScheduleConfiguration(name: "usage-rollup", cron: try! CronExpression("17 3 * * *"), task: .usageRollup, keep: 30),
    ]

    /// Parses and checks the `schedules` key's JSON list (strictly: an unknown field, a wrong
    /// type or a bad expression names the entry).
    public static func decodeList(_ text: String) throws -> [ScheduleConfiguration] {
        let list = try AIProxyConfiguration.decode([ScheduleConfiguration].self, text.isEmpty ? "[]" : text, key: "schedules")
        var names = Set<String>()
        for entry in list {
            guard !entry.name.isEmpty, entry.name.utf8.count <= 64,
                  entry.name.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x5F }) else {
                throw ScheduleError("schedule name \"\(entry.name)\": use 1-64 of a-z, 0-9, - and _")
            }
            guard names.insert(entry.name).inserted else { throw ScheduleError("two schedules are named \(entry.name)") }
            if let keep = entry.keep, !(1...10_000).contains(keep) { throw ScheduleError("schedule \(entry.name): keep must be 1-10000") }
            switch entry.task {
            case .backup:
                guard let directory = entry.directory, !directory.isEmpty else {
                    throw ScheduleError("schedule \(entry.name): a backup needs a directory")
                }
            case .indexSnapshot, .usageRollup, .leaseSweep:
                break
            }
        }
        if !list.contains(where: { $0.task == .leaseSweep }) {
            // The default sweep needs its name: another task under it would leave none.
            guard !names.contains(defaults[0].name) else {
                throw ScheduleError("schedule lease-sweep: that name is the lease sweep's (give this task another name)")
            }
            return list + [defaults[0]]
        }
        return list
    }

    static func encodeList(_ list: [ScheduleConfiguration]) -> String {
        var w = JSONWriter()
        w.raw("[")
        for (i, entry) in list.enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("{\"name\":"); w.string(entry.name)
            w.raw(",\"cron\":"); w.string(entry.cron.description)
            w.raw(",\"task\":"); w.string(entry.task.rawValue)
            if let directory = entry.directory { w.raw(",\"directory\":"); w.string(directory) }
            if let keep = entry.keep { w.raw(",\"keep\":"); w.number(keep) }
            w.raw("}")
        }
        w.raw("]")
        return String(decoding: w.bytes, as: UTF8.self)
    }

    public struct ScheduleError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = "schedules: " + description }
    }
}
