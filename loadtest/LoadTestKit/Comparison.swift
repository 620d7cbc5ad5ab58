import Foundation

/// Two runs side by side (`loadtest compare BASE.json NEW.json`): throughput, error rate and each
/// percentile, from the histograms, with a verdict a reader can trust.
///
/// The verdict weighs the difference against the runs' own second-to-second spread: each run's
/// per-second values of a figure are samples, and the standard error of the difference of
/// their means is se = √(s_b²/n_b + s_n²/n_n) (Welch). A difference within 2·se — about 95 %
/// of what two runs of the same system would show on this spread — is `no significant change`.
/// The compared values themselves are the whole-run figures (percentiles from the merged
/// histograms, not averages of per-second percentiles).
public struct Comparison: Sendable {
    public enum Verdict: Sendable, Equatable {
        case noSignificantChange
        case better
        case worse
        /// Fewer than two seconds in a run: no spread to judge by.
        case unknownSpread
    }

    public struct Line: Sendable {
        public var metric: String
        public var base: Double
        public var new: Double
        public var unit: String
        /// Twice the standard error of the difference, as a fraction of the base value.
        public var noise: Double?
        public var verdict: Verdict

        public var change: Double { base == 0 ? (new == 0 ? 0 : .infinity) : (new - base) / base }
    }

    public var base: Report
    public var new: Report
    public var lines: [Line]
    /// Named requests in both runs: side by side, not judged (no per-second series per request).
    public var requests: [(name: String, base: Report.RequestFigures, new: Report.RequestFigures)]

    public init(base: Report, new: Report) {
        self.base = base
        self.new = new
        func seconds(_ r: Report) -> [Report.Second] { r.timeseries.filter { ($0.length_s ?? 1) >= 0.5 } }
        let b = seconds(base), n = seconds(new)
        func line(_ metric: String, _ unit: String, higherIsBetter: Bool, _ whole: (Report) -> Double,
                  _ perSecond: (Report.Second) -> Double?) -> Line {
            let bv = whole(base), nv = whole(new)
            let bs = b.compactMap(perSecond), ns = n.compactMap(perSecond)
            guard bs.count >= 2, ns.count >= 2 else {
                return Line(metric: metric, base: bv, new: nv, unit: unit, noise: nil, verdict: bv == nv ? .noSignificantChange : .unknownSpread)
            }
            let se = (Comparison.variance(bs) / Double(bs.count) + Comparison.variance(ns) / Double(ns.count)).squareRoot()
            let noise = bv != 0 ? 2 * se / abs(bv) : nil
            let verdict: Verdict
            if abs(nv - bv) <= 2 * se { verdict = .noSignificantChange } else { verdict = (nv > bv) == higherIsBetter ? .better : .worse }
            return Line(metric: metric, base: bv, new: nv, unit: unit, noise: noise, verdict: verdict)
        }
        func errorFraction(_ s: Report.Second) -> Double? {
            let c = s.errors_by_class
            let attempts = s.requests + (c.map { $0.connect + $0.timeout + $0.io + $0.protocol_ } ?? 0)
            return attempts > 0 ? Double(s.errors) / Double(attempts) : 0
        }
        lines = [
            line("throughput", "req/s", higherIsBetter: true, { $0.rps }, { $0.rps }),
            line("errors", "%", higherIsBetter: false, { $0.errorRate * 100 }, { errorFraction($0).map { $0 * 100 } }),
            line("p50", "ms", higherIsBetter: false, { $0.latency_ms.p50 }, { $0.p50_ms }),
            line("p90", "ms", higherIsBetter: false, { $0.latency_ms.p90 }, { $0.p90_ms }),
            line("p99", "ms", higherIsBetter: false, { $0.latency_ms.p99 }, { $0.p99_ms }),
            line("p99.9", "ms", higherIsBetter: false, { $0.latency_ms.p999 }, { $0.p999_ms }),
            line("max", "ms", higherIsBetter: false, { $0.latency_ms.max }, { $0.max_ms }),
        ]
        var pairs: [(String, Report.RequestFigures, Report.RequestFigures)] = []
        for figures in base.per_request ?? [] {
            if let other = new.per_request?.first(where: { $0.name == figures.name }) { pairs.append((figures.name, figures, other)) }
        }
        requests = pairs
    }

    static func variance(_ values: [Double]) -> Double {
        let mean = values.reduce(0, +) / Double(values.count)
        return values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)
    }

    static func value(_ v: Double, _ unit: String) -> String {
        switch unit {
        case "req/s": return String(format: "%.1f/s", v)
        case "%": return String(format: "%.3f%%", v)
        default: return String(format: "%.3fms", v)
        }
    }

    static func percent(_ change: Double) -> String {
        change.isFinite ? String(format: "%+.2f%%", change * 100) : "new"
    }

    public static func verdictText(_ line: Line) -> String {
        let noise = line.noise.map { String(format: "spread ±%.2f%%", $0 * 100) } ?? "spread ±0"
        switch line.verdict {
        case .noSignificantChange: return line.noise == nil ? "no significant change" : "\(noise): no significant change"
        case .better: return "\(noise): significant, better"
        case .worse: return "\(noise): significant, worse"
        case .unknownSpread: return "under 2 s per run: spread unknown"
        }
    }

    public var text: String {
        var out = "base: \(base.url) (\(base.run?.started_at ?? "?"), \(String(format: "%.1f", base.duration_s)) s)\n"
        out += "new:  \(new.url) (\(new.run?.started_at ?? "?"), \(String(format: "%.1f", new.duration_s)) s)\n"
        out += "metric        " + "base".padding(toLength: 16, withPad: " ", startingAt: 0) + "new".padding(toLength: 16, withPad: " ", startingAt: 0)
            + "change     verdict\n"
        for line in lines {
            out += line.metric.padding(toLength: 14, withPad: " ", startingAt: 0)
            out += Comparison.value(line.base, line.unit).padding(toLength: 16, withPad: " ", startingAt: 0)
            out += Comparison.value(line.new, line.unit).padding(toLength: 16, withPad: " ", startingAt: 0)
            out += Comparison.percent(line.change).padding(toLength: 11, withPad: " ", startingAt: 0)
            out += Comparison.verdictText(line) + "\n"
        }
        if !requests.isEmpty {
            out += "per request (side by side; no per-second series per request, so not judged):\n"
            for (name, b, n) in requests {
                out += "  \(name): req/s \(String(format: "%.1f → %.1f", b.rps, n.rps)), p50 \(String(format: "%.3f → %.3f", b.latency_ms.p50, n.latency_ms.p50))ms, "
                out += "p99 \(String(format: "%.3f → %.3f", b.latency_ms.p99, n.latency_ms.p99))ms, errors \(b.errors) → \(n.errors)\n"
            }
        }
        for (label, report) in [("base", base), ("new", new)] {
            for warning in report.generator?.warnings ?? [] { out += "WARNING (\(label) run): \(warning)\n" }
        }
        return out
    }

    public func html() -> String {
        var body = "<h1>loadtest compare</h1>"
        body += HTMLText.table(["", "report", "started", "measured", "command"], [
            ["base", base.url, base.run?.started_at ?? "?", String(format: "%.2f s", base.duration_s), base.run?.command ?? ""],
            ["new", new.url, new.run?.started_at ?? "?", String(format: "%.2f s", new.duration_s), new.run?.command ?? ""],
        ])
        for (label, report) in [("base", base), ("new", new)] where !(report.generator?.keptUp ?? true) {
            body += "<div class=\"warning\">The \(label) run's generator did not keep up: " + (report.generator?.warnings ?? []).map(HTMLText.escape).joined(separator: "; ") + "</div>"
        }
        body += "<h2>Figures</h2>"
        body += HTMLText.table(["metric", "base", "new", "change", "verdict"],
                               lines.map { [$0.metric, Comparison.value($0.base, $0.unit), Comparison.value($0.new, $0.unit),
                                            Comparison.percent($0.change), Comparison.verdictText($0)] },
                               classes: lines.map { $0.verdict == .worse ? "fail" : $0.verdict == .better ? "pass" : nil })
        body += "<p>A difference within twice the standard error of the runs' per-second values is reported as no significant change.</p>"
        if !requests.isEmpty {
            body += "<h2>Per request</h2>"
            body += HTMLText.table(["request", "req/s base", "req/s new", "p50 base", "p50 new", "p99 base", "p99 new", "errors base", "errors new"],
                                   requests.map { r in [r.name, String(format: "%.1f", r.base.rps), String(format: "%.1f", r.new.rps),
                                                        HTMLReport.ms(r.base.latency_ms.p50), HTMLReport.ms(r.new.latency_ms.p50),
                                                        HTMLReport.ms(r.base.latency_ms.p99), HTMLReport.ms(r.new.latency_ms.p99),
                                                        String(r.base.errors), String(r.new.errors)] })
        }
        body += "<h2>Charts</h2>"
        body += SVGChart(title: "Latency by percentile (HDR)", xLabel: "percentile", yLabel: "latency (ms)",
                         series: [SVGChart.Series(name: "base", color: SVGChart.palette[0], points: HTMLReport.percentilePoints(base.histogram_us)),
                                  SVGChart.Series(name: "new", color: SVGChart.palette[1], points: HTMLReport.percentilePoints(new.histogram_us))],
                         xScale: .log, yScale: .log,
                         xTicks: [(1, "0%"), (10, "90%"), (100, "99%"), (1000, "99.9%"), (10000, "99.99%"), (100000, "99.999%")]).render()
        body += SVGChart(title: "Throughput per second", xLabel: "time (s)", yLabel: "requests/s",
                         series: [SVGChart.Series(name: "base", color: SVGChart.palette[0], points: base.timeseries.map { (HTMLReport.mid($0), $0.rps) }),
                                  SVGChart.Series(name: "new", color: SVGChart.palette[1], points: new.timeseries.map { (HTMLReport.mid($0), $0.rps) })]).render()
        body += SVGChart(title: "p99 per second", xLabel: "time (s)", yLabel: "p99 latency (ms)",
                         series: [SVGChart.Series(name: "base", color: SVGChart.palette[0], points: base.timeseries.map { (HTMLReport.mid($0), $0.p99_ms) }),
                                  SVGChart.Series(name: "new", color: SVGChart.palette[1], points: new.timeseries.map { (HTMLReport.mid($0), $0.p99_ms) })]).render()
        return HTMLText.page(title: "loadtest compare", body: body)
    }
}
