import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Histogram
@testable import LoadTestKit
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite("loadtest reports", .serialized)
struct ReportingTests {
    static func mixPlan(port: Int, requests: Int? = nil, rate: Double? = nil, seconds: Double = 0) throws -> RunPlan {
        let target = try Target(url: "http://127.0.0.1:\(port)/")
        let scenario = try Scenario.parse("""
            requests:
              - {name: found, weight: 3, url: /found}
              - {name: absent, url: /missing}
              - {name: found, url: /found-too}
            """, name: "mix.yaml", target: target, baseDirectory: ".")
        return try RunPlan(target: target, templates: scenario.templates, connections: 4, threads: 2, durationSeconds: seconds,
                           rate: rate.map { .constant($0) }, requestCount: requests)
    }

    static func through<T: Codable>(_ value: T) throws -> T {
        let encoder = JSONEncoder()
        return try JSONDecoder().decode(T.self, from: try encoder.encode(value))
    }

    @Test("per request: each name's counts add up to the total, errors where they happened, and merge keeps them")
    func perRequestBreakdown() throws {
        let server = try StallingServer()
        let report = try LoadTest.run(try Self.mixPlan(port: server.port, requests: 4000))
        let rows = try #require(report.per_request)
        // Two templates share the name `found`: they are one row.
        #expect(rows.map(\.name) == ["found", "absent"])
        #expect(rows.map(\.requests).reduce(0, +) == report.requests && report.requests == 4000)
        let found = rows[0], absent = rows[1]
        #expect(found.errors == 0 && found.status == ["200": found.requests])
        #expect(absent.errors == absent.requests && absent.errors_by_class.status_4xx == absent.requests && absent.status["404"] == absent.requests)
        // Weights 3 + 1 against 1: four in five are `found`.
        let share = Double(found.requests) / Double(report.requests)
        #expect(share > 0.75 && share < 0.85, "\(share)")
        #expect(found.histogram_us.totalCount == UInt64(found.requests))
        #expect(report.text.contains("Per request") && report.text.contains("absent"))

        // Thresholds on one named request, by its name (spaces kept).
        #expect(try Threshold("errors[absent] > 99%").holds(for: report) && !(try Threshold("errors[found]>1%").holds(for: report)))
        #expect(try Threshold("p99 [ GET /x ] < 20ms").request == "GET /x" && (try Threshold("p99[GET /x]<20ms")).text == "p99[GET /x]<20ms")
        #expect(throws: LoadTestError.self) { try Threshold("p99[]<20ms") }
        var plan = try Self.mixPlan(port: server.port, requests: 10)
        #expect(throws: LoadTestError.self) {
            try RunPlan(target: plan.target, templates: plan.templates, connections: 1, threads: 1, durationSeconds: 1,
                        thresholds: [try Threshold("p99[nope]<1s")])
        }
        plan.thresholds = [try Threshold("p99[found]<10s")]
        #expect(try LoadTest.run(plan).thresholds == ["p99[found]<10s": true])

        let merged = try Report.merge([try Self.through(report), try Self.through(report)])
        #expect(merged.per_request?.map(\.requests) == rows.map { $0.requests * 2 })
        #expect(merged.per_request?[1].errors == absent.errors * 2)
        #expect(merged.per_request?[0].latency_ms.p99 == found.latency_ms.p99)
    }

    @Test("a single request has no breakdown table: the totals are its figures")
    func singleRequestHasNoBreakdown() throws {
        let server = try StallingServer()
        let target = try Target(url: "http://127.0.0.1:\(server.port)/x")
        let template = try RequestTemplate(method: "GET", path: "/x", headers: [], body: nil, weight: 1, authority: target.authority, baseDirectory: ".")
        let report = try LoadTest.run(try RunPlan(target: target, templates: [template], connections: 1, threads: 1, durationSeconds: 0, requestCount: 50))
        #expect(report.per_request == nil && report.requests == 50)
    }

    @Test("the series: the last bucket is as long as it really was, so the end is no false drop to 0")
    func lastBucketUsesItsRealLength() throws {
        let server = try StallingServer()
        let report = try LoadTest.run(try Self.mixPlan(port: server.port, rate: 2000, seconds: 2.5))
        let series = report.timeseries
        #expect(series.count == 3, "\(series.map(\.requests))")
        #expect(series.map(\.requests).reduce(0, +) == report.requests)
        #expect(series.prefix(2).allSatisfy { $0.length_s == 1 })
        let last = try #require(series.last?.length_s)
        #expect(last >= 0.5 && last < 0.6, "\(last)")
        for second in series {
            #expect(second.target_rps == 2000)
            // Open loop on an idle server: every bucket carries the schedule's rate.
            #expect(abs(second.rps - 2000) < 200, "second \(second.t): \(second.rps)/s")
            #expect((second.sent ?? 0) > 0 && second.status?["200"] != nil && second.status?["404"] != nil)
            #expect(second.errors == second.errors_by_class?.status_4xx)
        }
        #expect(report.generator?.schedule_lag_ms != nil && report.generator?.cpu_busy.count == 2)
        #expect(report.run?.version == RunInfo.version && report.run?.cpus ?? 0 >= 1)
    }

    @Test("reports from before the new fields still load, merge, compare and render")
    func olderReportsStillLoad() throws {
        let server = try StallingServer()
        let report = try LoadTest.run(try Self.mixPlan(port: server.port, requests: 500))
        var object = try #require(try JSONSerialization.jsonObject(with: report.json()) as? [String: Any])
        // The format as it was: no breakdown, generator or run, and four fields per second.
        for key in ["per_request", "generator", "run"] { object.removeValue(forKey: key) }
        object["timeseries"] = (object["timeseries"] as? [[String: Any]])?.map { second in
            second.filter { ["t", "requests", "errors", "p99_ms"].contains($0.key) }
        }
        let old = try JSONDecoder().decode(Report.self, from: try JSONSerialization.data(withJSONObject: object))
        #expect(old.per_request == nil && old.generator == nil && old.requests == 500)
        let merged = try Report.merge([old, report])
        #expect(merged.requests == 1000)
        _ = Comparison(base: old, new: report).text
        #expect(HTMLReport.render(old).contains("<svg"))
    }

    @Test("compare: a run against itself is no significant change on every line")
    func compareWithItself() throws {
        let server = try StallingServer()
        let report = try LoadTest.run(try Self.mixPlan(port: server.port, rate: 1000, seconds: 3))
        let comparison = Comparison(base: report, new: try Self.through(report))
        #expect(comparison.lines.allSatisfy { $0.verdict == .noSignificantChange }, "\(comparison.text)")
        let judged = comparison.text.split(separator: "\n").filter { ["throughput", "errors", "p50", "p90", "p99 ", "p99.9", "max"].contains(where: $0.hasPrefix) }
        #expect(judged.count == 7 && judged.allSatisfy { $0.hasSuffix("no significant change") }, "\(comparison.text)")
    }

    /// A report whose seconds have the given p50s (ms) and rates, with a histogram to match.
    static func synthetic(p50s: [Double], rates: [Double]) -> Report {
        var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
        var series: [Report.Second] = []
        for (i, (p50, rate)) in zip(p50s, rates).enumerated() {
            _ = histogram.record(UInt64(p50 * 1000), count: UInt64(rate))
            series.append(Report.Second(t: i, requests: Int(rate), errors: 0, p99_ms: p50 * 2, length_s: 1, p50_ms: p50, p90_ms: p50 * 1.5,
                                        p999_ms: p50 * 3, max_ms: p50 * 4))
        }
        let requests = Int(rates.reduce(0, +))
        return Report(url: "u", mode: "closed", connections: 1, threads: 1, target_rate: nil, requests: requests, errors: 0,
                      duration_s: Double(series.count), rps: Double(requests) / Double(series.count), latency_ms: Report.latency(of: histogram),
                      errors_by_class: .init(), status: ["200": requests], warmup_requests: 0, timeseries: series, thresholds: [:],
                      histogram_us: histogram)
    }

    @Test("compare: twice the latency is significantly worse; a change inside the spread is not significant")
    func compareJudgesAgainstSpread() throws {
        let base = Self.synthetic(p50s: [1.00, 1.02, 0.98, 1.01, 0.99], rates: [1000, 1010, 990, 1005, 995])
        let slower = Self.synthetic(p50s: [2.00, 2.04, 1.96, 2.02, 1.98], rates: [1002, 1008, 992, 1003, 997])
        let comparison = Comparison(base: base, new: slower)
        let byName = Dictionary(uniqueKeysWithValues: comparison.lines.map { ($0.metric, $0) })
        #expect(byName["p50"]?.verdict == .worse)
        #expect(byName["throughput"]?.verdict == .noSignificantChange)
        // The noisy run: the same shift drowned in second-to-second spread.
        let noisy = Self.synthetic(p50s: [0.5, 2.0, 0.6, 1.9, 0.55], rates: [1000, 1010, 990, 1005, 995])
        let within = Self.synthetic(p50s: [0.6, 2.1, 0.65, 2.0, 0.6], rates: [1000, 1010, 990, 1005, 995])
        #expect(Dictionary(uniqueKeysWithValues: Comparison(base: noisy, new: within).lines.map { ($0.metric, $0.verdict) })["p50"] == .noSignificantChange)
        // One second per run: no spread to judge by, and it says so.
        let short = Comparison(base: Self.synthetic(p50s: [1], rates: [100]), new: Self.synthetic(p50s: [2], rates: [100]))
        #expect(short.lines.first { $0.metric == "p50" }?.verdict == .unknownSpread)
        #expect(comparison.html().contains("<svg"))
    }

    static func trial(_ rate: Double, _ number: Int, holds: Bool, p99: Double = 1) -> CapacityPlanner.Trial {
        var report = synthetic(p50s: [p99 / 2, p99 / 2], rates: [rate, rate])
        report.latency_ms.p99 = p99
        return CapacityPlanner.Trial(rate: rate, number: number, report: report, holds: holds)
    }

    @Test("capacity range: low held in every trial, high failed in any, knee where the median p50 climbs")
    func capacityRangeFromTrials() {
        let trials = [Self.trial(100, 1, holds: true, p99: 1), Self.trial(200, 1, holds: true, p99: 1.1), Self.trial(400, 1, holds: false, p99: 90),
                      Self.trial(200, 2, holds: true, p99: 1.2), Self.trial(200, 3, holds: true, p99: 1.0),
                      Self.trial(300, 1, holds: true, p99: 3), Self.trial(300, 2, holds: false, p99: 60)]
        let result = CapacityPlanner.summarize(trials, trialsPerRate: 3)
        // 300 held once and failed once: it is the high end, not the low.
        #expect(result.low == 200 && result.high == 300)
        #expect(result.knee == 200)
        // A rate with too few trials is no evidence for the low end.
        #expect(CapacityPlanner.summarize([Self.trial(100, 1, holds: true)], trialsPerRate: 3).low == nil)
    }

    @Test("capacity twice on the same server gives overlapping ranges, each with its trials (the second from above the boundary)")
    func capacityTwiceOverlaps() throws {
        // About 1000 requests/s: 1 ms of serial work per request.
        let server = try StallingServer(serviceMicros: 1000)
        let target = try Target(url: "http://127.0.0.1:\(server.port)/found")
        let template = try RequestTemplate(method: "GET", path: "/found", headers: [], body: nil, weight: 1, authority: target.authority, baseDirectory: ".")
        let plan = try RunPlan(target: target, templates: [template], connections: 16, threads: 1, durationSeconds: 0.8, warmupSeconds: 0.2,
                               rate: .constant(100))
        let slo = try Threshold.list("p99<40ms,errors<1%")
        var ranges: [(Double, Double)] = []
        for start in [200.0, 3000.0] {
            let result = try CapacityPlanner.search(base: plan, slo: slo, startRate: start, maximumRate: 10_000, precision: 0.15,
                                                    trialsPerRate: 3, pauseSeconds: 0.2)
            let low = try #require(result.low), high = try #require(result.high)
            #expect(low < high && low >= 180 && high <= 1600, "\(low)–\(high)")
            let atLow = result.trials.filter { $0.rate == low }
            #expect(atLow.count >= 3 && atLow.allSatisfy(\.holds))
            #expect(result.trials.contains { $0.rate == high && !$0.holds })
            let document = try #require(try JSONSerialization.jsonObject(with: CapacityReport(slo: "p99<40ms,errors<1%", objective: slo, result: result,
                                                                                               url: "u").json()) as? [String: Any])
            let capacity = try #require(document["capacity"] as? [String: Any])
            #expect(capacity["low"] as? Double == low && capacity["high"] as? Double == high && capacity["slo"] as? String == "p99<40ms,errors<1%")
            #expect((capacity["trials"] as? [Any])?.count == result.trials.count)
            ranges.append((low, high))
        }
        #expect(ranges[0].0 <= ranges[1].1 && ranges[1].0 <= ranges[0].1, "\(ranges)")
    }

    @Test("generator health: a busy thread or a late schedule is said in the text, the HTML and the JSON")
    func generatorHealth() throws {
        var lag = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .two)
        for _ in 0..<100 { _ = lag.record(20) }
        #expect(GeneratorHealth(cpuBusy: [0.3, 0.4], scheduleLag: lag).keptUp)
        for _ in 0..<10 { _ = lag.record(8000) }
        let late = GeneratorHealth(cpuBusy: [0.3], scheduleLag: lag)
        #expect(!late.keptUp && late.warnings.count == 1 && late.warnings[0].contains("behind schedule"))
        let busy = GeneratorHealth(cpuBusy: [0.5, 0.97], scheduleLag: nil)
        #expect(!busy.keptUp && busy.warnings[0].contains("CPU-bound") && busy.warnings[0].contains("97%"))
        var report = Self.synthetic(p50s: [1, 1], rates: [10, 10])
        report.generator = busy
        #expect(report.text.contains("WARNING: generator CPU-bound"))
        #expect(HTMLReport.render(report).contains("did not keep up"))
        #expect(try Self.through(report).generator == busy)
    }

    @Test("HTML: every chart is well-formed SVG with labelled axes and ticks; text is escaped")
    func htmlChartsAreWellFormed() throws {
        let server = try StallingServer()
        var report = try LoadTest.run(try Self.mixPlan(port: server.port, rate: 500, seconds: 2))
        report.url = "http://x/<script>alert(1)</script>"
        let html = HTMLReport.render(report)
        #expect(!html.contains("<script>") && html.contains("&lt;script&gt;"))
        let charts = html.components(separatedBy: "<svg").dropFirst().map { "<svg" + $0.components(separatedBy: "</svg>")[0] + "</svg>" }
        #expect(charts.count == 5)
        for chart in charts {
            let document = try XMLDocument(xmlString: chart)
            let labels = try document.nodes(forXPath: "//*[local-name()='text'][@class='axis-label']")
            #expect(labels.count == 2, "\(chart.prefix(200))")
            #expect(try document.nodes(forXPath: "//*[local-name()='text'][@class='tick']").count >= 3)
        }
        #expect(html.contains("Per request") && html.contains("absent") && html.contains(RunInfo.version))
    }

    @Test("strict generator: a schedule the generator cannot keep fails the run with exit code 2, and says why")
    func strictGeneratorExitCode() throws {
        let server = try StallingServer()
        let binary = try #require(builtExecutable("loadtest"))
        // Three million requests a second from one thread and one connection: no generator keeps that.
        let (status, out, _) = try run([binary, "run", "--url", "http://127.0.0.1:\(server.port)/", "-c", "1", "-t", "1", "-d", "1s",
                                        "-R", "3000000", "--strict-generator"])
        #expect(status == 2 && out.contains("did NOT keep up"), "\(status) \(out)")
    }
}
