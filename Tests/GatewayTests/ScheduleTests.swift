import Foundation
import Testing
@testable import Gateway

@Suite("Scheduled jobs: cron expressions, the schedules key, retention")
struct ScheduleTests {
    /// Milliseconds of a UTC time.
    func at(_ year: Int64, _ month: Int, _ day: Int, _ hour: Int64 = 0, _ minute: Int64 = 0, _ second: Int64 = 0) -> Int64 {
        (CivilDate.days(year: year, month: Int64(month), day: Int64(day)) * 86_400 + hour * 3600 + minute * 60 + second) * 1000
    }

    @Test func slotsAreStampedInUTC() {
        #expect(ScheduledWork.stamp(at(2026, 12, 3, 15, 4, 5) + 999) == "20261203T150405Z")
        #expect(ScheduledWork.stamp(at(2028, 2, 29)) == "20280229T000000Z")
    }

    @Test func nextSlots() throws {
        let t = at(2026, 12, 3, 14, 25, 10)
        func next(_ text: String, after time: Int64? = nil) throws -> Int64? { try CronExpression(text).next(after: time ?? t) }
        #expect(try next("* * * * *") == at(2026, 12, 3, 14, 26))
        #expect(try next("*/15 * * * *") == at(2026, 12, 3, 14, 30))
        #expect(try next("0 3 * * *") == at(2026, 12, 4, 3))
        #expect(try next("@hourly") == at(2026, 12, 3, 15))
        #expect(try next("@daily") == at(2026, 12, 4))
        #expect(try next("@monthly") == at(2027, 1, 1))
        #expect(try next("@yearly") == at(2027, 1, 1))
        #expect(try next("@weekly") == at(2026, 12, 6))  // 3 December 2026 is a Thursday
        #expect(try next("*/10 * * * * *") == at(2026, 12, 3, 14, 25, 20))
        #expect(try next("*/10 * * * * *", after: at(2026, 12, 3, 14, 25, 20)) == at(2026, 12, 3, 14, 25, 30))
        #expect(try next("30 9 * * mon-fri") == at(2026, 12, 4, 9, 30))
        #expect(try next("30 9 * * 1-5", after: at(2026, 12, 4, 9, 30)) == at(2026, 12, 7, 9, 30))
        #expect(try next("0 0 * * 7") == at(2026, 12, 6) && next("0 0 * * SUN") == at(2026, 12, 6))
        #expect(try next("0 0 29 feb *") == at(2028, 2, 29))
        #expect(try next("0 12 1-7/3 JAN,jul *") == at(2027, 1, 1, 12))
        // Both day fields restricted: either matches (Vixie cron).
        #expect(try next("0 0 13 * fri") == at(2026, 12, 4))
        #expect(try next("0 0 13 * fri", after: at(2026, 12, 12)) == at(2026, 12, 13))
        // A step over a single start runs to the field's end.
        #expect(try next("0 20/2 * * *") == at(2026, 12, 3, 20))
        #expect(try next("0 20/2 * * *", after: at(2026, 12, 3, 22)) == at(2026, 12, 4, 20))
        // Strictly after: a slot equal to the time is not next.
        #expect(try next("0 * * * *", after: at(2026, 12, 3, 15)) == at(2026, 12, 3, 16))
        #expect(try next("0 0 31 dec *", after: at(2026, 12, 31, 0, 0, 1)) == at(2027, 12, 31))
    }

    @Test func badExpressionsAreRefusedWithAReason() {
        for (text, says) in [("", "5 fields"), ("* * * *", "5 fields"), ("* * * * * * *", "5 fields"), ("60 * * * *", "outside 0-59"),
                             ("* 24 * * *", "outside 0-23"), ("* * 0 * *", "outside 1-31"), ("* * * 13 *", "outside 1-12"),
                             ("* * * * 8", "outside 0-7"), ("*/0 * * * *", "step"), ("5-1 * * * *", "backwards"),
                             ("a * * * *", "not a number"), ("* * * foo *", "not a number or a name"), ("1,,2 * * * *", "not a number"),
                             ("0 0 30 feb *", "never fires"), ("0 0 31 4,6,9,11 *", "never fires"), ("@reboot", "unknown cron macro"),
                             ("1/2/3 * * * *", "two steps"), ("1-2-3 * * * *", "not a range"), ("999999999999 * * * *", "not a number"),
                             ("-1 * * * *", "not a number")] {
            do {
                _ = try CronExpression(text)
                Issue.record("\(text) was accepted")
            } catch {
                #expect(error.description.contains(says), "\(text): \(error.description)")
            }
        }
    }

    @Test func arbitraryTextNeverTraps() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789*/-,? abcdefghijklmnopqrstuvwxyz@\t\u{00e9}")
        for _ in 0..<20_000 {
            let text = String((0..<Int.random(in: 0...24, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
            if let cron = try? CronExpression(text) {
                let now = Int64.random(in: -1_000_000_000_000...4_000_000_000_000, using: &generator)
                if let next = cron.next(after: now) { #expect(next > now) }
            }
        }
    }

    @Test func theSchedulesKey() throws {
        let (defaults, _) = try ConfigurationLoader.load(file: nil, environment: [:], flags: [:])
        #expect(defaults.jobs.schedules.map(\.name) == ["lease-sweep", "usage-rollup"])
        let list = #"[{"name":"nightly","cron":"0 3 * * *","task":"backup","directory":"/tmp/b","keep":3},{"name":"idx","cron":"@hourly","task":"index-snapshot"}]"#
        let (c, _) = try ConfigurationLoader.load(file: nil, environment: [:], flags: ["schedules": list])
        // A list without a lease sweep still gets one: nothing else ends a dead worker's last attempt.
        #expect(c.jobs.schedules.map(\.name) == ["nightly", "idx", "lease-sweep"])
        #expect(c.jobs.schedules[0].keep == 3 && c.jobs.schedules[0].directory == "/tmp/b" && c.jobs.schedules[1].task == .indexSnapshot)
        let (again, _) = try ConfigurationLoader.load(file: nil, environment: [:], flags: ["schedules": ScheduleConfiguration.encodeList(c.jobs.schedules)])
        #expect(again.jobs.schedules == c.jobs.schedules)
        for (bad, says) in [(#"[{"name":"x","cron":"0 3 * * *","task":"backup"}]"#, "needs a directory"),
                            (#"[{"name":"x","cron":"0 3 * * *","task":"vacuum"}]"#, "unknown task vacuum"),
                            (#"[{"name":"x","cron":"61 * * * *","task":"lease-sweep"}]"#, "outside 0-59"),
                            (#"[{"name":"x","cron":"@daily","task":"lease-sweep","every":1}]"#, "every"),
                            (#"[{"name":"Bad Name","cron":"@daily","task":"lease-sweep"}]"#, "schedule name"),
                            (#"[{"name":"x","cron":"@daily","task":"usage-rollup"},{"name":"x","cron":"@daily","task":"lease-sweep"}]"#, "two schedules"),
                            (#"[{"name":"x","cron":"@daily","task":"usage-rollup","keep":0}]"#, "keep"),
                            (#"[{"name":"x","task":"usage-rollup"}]"#, "cron"),
                            (#"[{"name":"lease-sweep","cron":"@daily","task":"usage-rollup"}]"#, "the lease sweep's"),
                            (#"{"name":"x"}"#, "schedules")] {
            do {
                _ = try ConfigurationLoader.load(file: nil, environment: [:], flags: ["schedules": bad])
                Issue.record("\(bad) was accepted")
            } catch {
                #expect("\(error)".contains(says), "\(bad): \(error)")
            }
        }
    }

    @Test func retentionKeepsTheNewest() throws {
        let directory = NSTemporaryDirectory() + "aiwriter-retention-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let names = ["aiwriter-20261201T030000Z.bak", "aiwriter-20261202T030000Z.bak", "aiwriter-20261203T030000Z.bak",
                     "aiwriter-20261201T030000Z.bak.counts", "aiwriter-20261204T030000Z.bak.partial", "unrelated.bak"]
        for name in names { FileManager.default.createFile(atPath: directory + "/" + name, contents: Data()) }
        ScheduledWork.prune(directory, prefix: "aiwriter-", suffix: ".bak", keep: 2, siblings: [".counts"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() ==
                ["aiwriter-20261202T030000Z.bak", "aiwriter-20261203T030000Z.bak", "unrelated.bak"])
    }
}
