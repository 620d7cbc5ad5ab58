import Foundation

/// The outputs of `loadtest capacity`: the `--json` document, the text lines and the HTML
/// report (achieved rate against p50/p99/p99.9 with the SLO drawn in, the knee and the range
/// marked, every trial listed).
public struct CapacityReport: Sendable {
    public var slo: String
    public var objective: [Threshold]
    public var result: CapacityPlanner.Result
    public var run: RunInfo?
    public var url: String

    public init(slo: String, objective: [Threshold], result: CapacityPlanner.Result, url: String, run: RunInfo? = nil) {
        self.slo = slo
        self.objective = objective
        self.result = result
        self.url = url
        self.run = run
    }

    struct Document: Encodable {
        struct Range: Encodable {
            var low: Double?
            var high: Double?
            var slo: String
            var knee: Double?
            var generator_limited: Bool
            var trials: [TrialRow]

            // `low`, `high` and `knee` are written as null when absent, so readers always find them.
            enum CodingKeys: String, CodingKey { case low, high, slo, knee, generator_limited, trials }
            func encode(to encoder: Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(low, forKey: .low)
                try c.encode(high, forKey: .high)
                try c.encode(knee, forKey: .knee)
                try c.encode(slo, forKey: .slo)
                try c.encode(generator_limited, forKey: .generator_limited)
                try c.encode(trials, forKey: .trials)
            }
        }
        struct TrialRow: Encodable {
            var rate: Double, trial: Int, rps: Double, p50_ms: Double, p99_ms: Double, p999_ms: Double, error_rate: Double
            var holds: Bool
            var generator_kept_up: Bool
        }
        struct Step: Encodable {
            var rate: Double, rps: Double, p99_ms: Double, error_rate: Double, holds: Int
        }
        var slo: String
        /// The low end of the range (0 when nothing held), as before ranges existed.
        var capacity_rps: Double
        var steps: [Step]
        var capacity: Range
        var run: RunInfo?
    }

    public func json() throws -> Data {
        let trials = result.trials.map { t in
            Document.TrialRow(rate: t.rate, trial: t.number, rps: t.report.rps, p50_ms: t.report.latency_ms.p50, p99_ms: t.report.latency_ms.p99,
                              p999_ms: t.report.latency_ms.p999, error_rate: t.report.errorRate, holds: t.holds, generator_kept_up: t.generatorKeptUp)
        }
        let steps = result.trials.map { t in
            Document.Step(rate: t.rate, rps: t.report.rps, p99_ms: t.report.latency_ms.p99, error_rate: t.report.errorRate, holds: t.holds ? 1 : 0)
        }
        let document = Document(slo: slo, capacity_rps: result.low ?? 0, steps: steps,
                                capacity: .init(low: result.low, high: result.high, slo: slo, knee: result.knee,
                                                generator_limited: result.generatorLimited, trials: trials), run: run)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(document)
    }

    public static let header = "rate/s     trial achieved/s  p50(ms)   p99(ms)   p99.9(ms) errors    SLO"

    public static func line(_ t: CapacityPlanner.Trial) -> String {
        String(format: "%-10.0f %-5d %-11.0f %-9.3f %-9.3f %-9.3f %-9.4f ", t.rate, t.number, t.report.rps, t.report.latency_ms.p50,
               t.report.latency_ms.p99, t.report.latency_ms.p999, t.report.errorRate)
            + (t.holds ? "holds" : "fails") + (t.generatorKeptUp ? "" : " (generator fell behind)")
    }

    /// The closing lines: the range and what it rests on.
    public var summary: String {
        func count(_ rate: Double) -> (held: Int, all: Int) {
            let these = result.trials.filter { $0.rate == rate }
            return (these.filter(\.holds).count, these.count)
        }
        var out: String
        switch (result.low, result.high) {
        case let (low?, high?):
            let l = count(low), h = count(high)
            out = "capacity: \(Int(low))–\(Int(high)) requests/s for \(slo): \(Int(low)) held in all \(l.all) trials, "
                + "\(Int(high)) failed in \(h.all - h.held) of \(h.all)\n"
        case let (low?, nil):
            out = "capacity: at least \(Int(low)) requests/s for \(slo) (held in all \(count(low).all) trials; the search's maximum rate was reached)\n"
        case let (nil, high?):
            out = "capacity: below \(Int(high)) requests/s: no rate tried held \(slo) in every trial\n"
        case (nil, nil):
            out = "capacity: no conclusive trial\n"
        }
        if let knee = result.knee { out += "knee: latency starts to climb above \(Int(knee)) requests/s\n" }
        if result.generatorLimited {
            out += "WARNING: loadtest itself fell behind in some trials (marked): their latencies include its own lateness, so capacity may be higher; use more threads or machines\n"
        }
        return out
    }

    public func html() -> String {
        let trials = result.trials
        func points(_ value: (CapacityPlanner.Trial) -> Double) -> [(x: Double, y: Double)] { trials.map { ($0.report.rps, value($0)) } }
        var references: [(value: Double, label: String)] = []
        for threshold in objective where ![.errors, .rps].contains(threshold.metric) {
            references.append((threshold.value, "SLO \(threshold.text)"))
        }
        var markers: [(value: Double, label: String)] = []
        let range = result.low.flatMap { low in result.high.map { (low, $0, "capacity \(Int(low))–\(Int($0)) requests/s") } }
        if let knee = result.knee { markers.append((knee, "knee \(SVGChart.Axis.label(knee))/s")) }
        if let low = result.low { markers.append((low, "held \(SVGChart.Axis.label(low))/s")) }
        if let high = result.high { markers.append((high, "failed \(SVGChart.Axis.label(high))/s")) }
        let latency = SVGChart(title: "Latency against achieved rate (every trial)", xLabel: "achieved rate (requests/s)", yLabel: "latency (ms)",
                               series: [SVGChart.Series(name: "p50", color: SVGChart.palette[0], points: points { $0.report.latency_ms.p50 }, dots: true),
                                        SVGChart.Series(name: "p99", color: SVGChart.palette[1], points: points { $0.report.latency_ms.p99 }, dots: true),
                                        SVGChart.Series(name: "p99.9", color: SVGChart.palette[4], points: points { $0.report.latency_ms.p999 }, dots: true)],
                               yScale: .log, references: references, markers: markers, band: range)
        let achieved = SVGChart(title: "Achieved against offered rate", xLabel: "offered rate (requests/s)", yLabel: "achieved (requests/s)",
                                series: [SVGChart.Series(name: "trials", color: SVGChart.palette[0], points: trials.map { ($0.rate, $0.report.rps) }, dots: true),
                                         SVGChart.Series(name: "ideal", color: SVGChart.palette[7],
                                                         points: [(0, 0), (trials.map(\.rate).max() ?? 1, trials.map(\.rate).max() ?? 1)], dashed: true)],
                                markers: markers.filter { !$0.label.hasPrefix("knee") }, band: range)
        var body = "<h1>loadtest capacity</h1><p><code>\(HTMLText.escape(url))</code> — SLO <code>\(HTMLText.escape(slo))</code></p>"
        body += "<p class=\"answer\"><strong>\(HTMLText.escape(summary.split(separator: "\n").first.map(String.init) ?? ""))</strong></p>"
        if result.generatorLimited {
            body += "<div class=\"warning\">loadtest itself fell behind in some trials (marked below): their latencies include its own lateness, so the capacity may be higher.</div>"
        }
        if let run {
            body += "<table class=\"meta\"><tr><th>command</th><td>\(HTMLText.escape(run.command))</td></tr><tr><th>version</th><td>\(HTMLText.escape(run.version))</td></tr>"
                + "<tr><th>started</th><td>\(HTMLText.escape(run.started_at))</td></tr><tr><th>machine</th><td>\(HTMLText.escape("\(run.host), \(run.cpus) CPUs, \(run.os)"))</td></tr></table>"
        }
        body += latency.render() + achieved.render()
        body += "<h2>Trials</h2>"
        body += HTMLText.table(["rate/s", "trial", "achieved/s", "p50", "p99", "p99.9", "error rate", "result"],
                               trials.map { t in
                                   [String(format: "%.0f", t.rate), String(t.number), String(format: "%.0f", t.report.rps),
                                    HTMLReport.ms(t.report.latency_ms.p50), HTMLReport.ms(t.report.latency_ms.p99), HTMLReport.ms(t.report.latency_ms.p999),
                                    String(format: "%.3f%%", t.report.errorRate * 100),
                                    (t.holds ? "holds" : "fails") + (t.generatorKeptUp ? "" : " (generator fell behind)")]
                               }, classes: trials.map { $0.holds ? "pass" : "fail" })
        body += "<p>A rate holds when every one of its trials met the SLO and achieved at least 90 % of the offered rate. "
            + "The range runs from the highest rate that held in every trial to the lowest that failed in any. "
            + "The knee is the last rate, going up, whose median p50 stayed within twice the lowest median p50 of any rate (where queueing starts to lift the whole distribution).</p>"
        return HTMLText.page(title: "loadtest capacity \(url)", body: body)
    }
}
