import Foundation
import Histogram

/// A run's report as one self-contained HTML file (inline SVG, no script, no network): what was
/// run and where, whether the generator kept up, the thresholds, latency percentiles, achieved
/// against target rate, errors and status codes over time, the HDR latency distribution, and a
/// table per named request.
public enum HTMLReport {
    public static func render(_ report: Report) -> String {
        var body = "<h1>loadtest report</h1>"
        body += "<p><code>\(HTMLText.escape(report.url))</code> — \(report.mode) loop, \(report.connections) connections, \(report.threads) thread\(report.threads == 1 ? "" : "s")"
        if let rate = report.target_rate { body += ", target \(SVGChart.Axis.label(rate)) requests/s" }
        body += "</p>"
        body += generatorSection(report.generator)
        body += metadata(report)
        body += "<h2>Summary</h2>" + summaryTable(report)
        if !report.thresholds.isEmpty {
            let rows = report.thresholds.sorted { $0.key < $1.key }
            body += "<h2>Thresholds</h2>" + HTMLText.table(["threshold", "result"], rows.map { [$0.key, $0.value ? "pass" : "FAIL"] },
                                                            classes: rows.map { $0.value ? "pass" : "fail" })
        }
        body += "<h2>Over time</h2>" + latencyOverTime(report).render() + throughput(report).render()
        body += errorsOverTime(report).render() + statusOverTime(report).render()
        body += "<h2>Latency distribution</h2>" + distribution([("all requests", report.histogram_us)] + (report.per_request ?? []).map { ($0.name, $0.histogram_us) }).render()
        if let perRequest = report.per_request {
            body += "<h2>Per request</h2>" + requestTable(perRequest)
        }
        body += "<h2>Errors and status codes</h2>"
        body += HTMLText.table(["class", "count"], report.errors_by_class.labelled.map { [$0.0, String($0.1)] })
        body += HTMLText.table(["status", "count"], report.status.sorted { $0.key < $1.key }.map { [$0.key, String($0.value)] })
        return HTMLText.page(title: "loadtest \(report.url)", body: body)
    }

    static func generatorSection(_ generator: GeneratorHealth?) -> String {
        guard let generator else { return "" }
        let busy = generator.cpu_busy.map { String(format: "%.0f%%", $0 * 100) }.joined(separator: ", ")
        var lag = ""
        if let l = generator.schedule_lag_ms { lag = String(format: "; send lag p50 %.3f ms, p99 %.3f ms, max %.3f ms", l.p50, l.p99, l.max) }
        if generator.keptUp {
            return "<p class=\"generator\">Generator kept up (thread CPU \(busy)\(lag)).</p>"
        }
        return "<div class=\"warning generator\"><strong>The generator did not keep up: these figures may describe loadtest, not the server.</strong><ul>"
            + generator.warnings.map { "<li>\(HTMLText.escape($0))</li>" }.joined() + "</ul>Thread CPU \(busy)\(lag).</div>"
    }

    static func metadata(_ report: Report) -> String {
        var rows: [[String]] = []
        if let run = report.run {
            rows += [["command", run.command], ["version", run.version], ["started", run.started_at],
                     ["machine", "\(run.host), \(run.cpus) CPUs, \(run.os)"]]
        }
        rows += [["measured", String(format: "%.2f s (%d warm-up requests excluded)", report.duration_s, report.warmup_requests)]]
        return "<table class=\"meta\">" + rows.map { "<tr><th>\(HTMLText.escape($0[0]))</th><td>\(HTMLText.escape($0[1]))</td></tr>" }.joined() + "</table>"
    }

    static func summaryTable(_ report: Report) -> String {
        let l = report.latency_ms
        return HTMLText.table(["requests", "errors", "error rate", "requests/s", "p50", "p90", "p99", "p99.9", "max"],
                              [[String(report.requests), String(report.errors), String(format: "%.3f%%", report.errorRate * 100),
                                String(format: "%.1f", report.rps), ms(l.p50), ms(l.p90), ms(l.p99), ms(l.p999), ms(l.max)]])
    }

    static func requestTable(_ rows: [Report.RequestFigures]) -> String {
        HTMLText.table(["request", "requests", "errors", "error rate", "requests/s", "p50", "p90", "p99", "p99.9", "max"],
                       rows.map { r in
                           [r.name, String(r.requests), String(r.errors), String(format: "%.3f%%", r.errorRate * 100), String(format: "%.1f", r.rps),
                            ms(r.latency_ms.p50), ms(r.latency_ms.p90), ms(r.latency_ms.p99), ms(r.latency_ms.p999), ms(r.latency_ms.max)]
                       })
    }

    static func ms(_ v: Double) -> String { String(format: "%.3f ms", v) }

    /// A bucket is drawn at its middle (the last may be shorter than a second).
    static func mid(_ s: Report.Second) -> Double { Double(s.t) + min(1, s.length_s ?? 1) / 2 }

    static func latencyOverTime(_ report: Report) -> SVGChart {
        let s = report.timeseries
        let lines: [(String, KeyPath<Report.Second, Double?>)] = [("p50", \.p50_ms), ("p90", \.p90_ms), ("max", \.max_ms)]
        var series = [SVGChart.Series(name: "p99", color: SVGChart.palette[1], points: s.map { (mid($0), $0.p99_ms) })]
        for (i, (name, path)) in lines.enumerated() {
            let points = s.compactMap { second in second[keyPath: path].map { (mid(second), $0) } }
            if !points.isEmpty { series.append(SVGChart.Series(name: name, color: SVGChart.palette[[0, 2, 7][i]], points: points)) }
        }
        series.sort { order($0.name) < order($1.name) }
        let values = series.flatMap(\.points).map(\.y).filter { $0 > 0 }
        let wide = (values.max() ?? 1) / max(1e-9, values.min() ?? 1) > 50
        return SVGChart(title: "Latency percentiles per second", xLabel: "time (s)", yLabel: "latency (ms)", series: series,
                        yScale: wide ? .log : .linear)
    }

    static func order(_ name: String) -> Int { ["p50": 0, "p90": 1, "p99": 2, "max": 3][name] ?? 4 }

    static func throughput(_ report: Report) -> SVGChart {
        let s = report.timeseries
        var series = [SVGChart.Series(name: "achieved (answers/s)", color: SVGChart.palette[0], points: s.map { (mid($0), $0.rps) })]
        let sent = s.compactMap { second in second.sent.map { (mid(second), Double($0) / max(1e-9, min(1, second.length_s ?? 1))) } }
        if !sent.isEmpty { series.append(SVGChart.Series(name: "sent/s", color: SVGChart.palette[2], points: sent, dashed: true)) }
        let target = s.compactMap { second in second.target_rps.map { (mid(second), $0) } }
        if !target.isEmpty { series.append(SVGChart.Series(name: "target/s", color: SVGChart.palette[1], points: target, dashed: true)) }
        return SVGChart(title: "Throughput" + (target.isEmpty ? "" : ": achieved against target"), xLabel: "time (s)",
                        yLabel: "requests/s", series: series)
    }

    static func errorsOverTime(_ report: Report) -> SVGChart {
        let s = report.timeseries
        var series: [SVGChart.Series] = []
        let labels = ["connect", "timeout", "io", "protocol", "4xx", "5xx"]
        for (i, label) in labels.enumerated() {
            let points = s.map { second -> (Double, Double) in
                let count = second.errors_by_class?.labelled.first { $0.0 == label }?.1 ?? 0
                return (mid(second), Double(count) / max(1e-9, second.length_s ?? 1))
            }
            if points.contains(where: { $0.1 > 0 }) { series.append(SVGChart.Series(name: label, color: SVGChart.palette[i % 8], points: points)) }
        }
        if series.isEmpty {
            series.append(SVGChart.Series(name: "errors", color: SVGChart.palette[1], points: s.map { (mid($0), Double($0.errors) / max(1e-9, $0.length_s ?? 1)) }))
        }
        return SVGChart(title: "Errors per second by class", xLabel: "time (s)", yLabel: "errors/s", series: series)
    }

    static func statusOverTime(_ report: Report) -> SVGChart {
        let s = report.timeseries
        let codes = Set(s.flatMap { $0.status?.keys.map { $0 } ?? [] }).sorted()
        let series = codes.prefix(8).enumerated().map { i, code in
            SVGChart.Series(name: "HTTP \(code)", color: SVGChart.palette[i % 8],
                            points: s.map { (mid($0), Double($0.status?[code] ?? 0) / max(1e-9, $0.length_s ?? 1)) })
        }
        return SVGChart(title: "Status codes per second", xLabel: "time (s)", yLabel: "responses/s", series: series)
    }

    /// HdrHistogram's percentile plot: x is 1/(1−p) on a log axis, so the tail gets the room.
    static func distribution(_ histograms: [(String, Histogram<UInt64>)]) -> SVGChart {
        let series = histograms.prefix(8).enumerated().map { i, entry in
            SVGChart.Series(name: entry.0, color: SVGChart.palette[i % 8], points: percentilePoints(entry.1), dashed: i > 0)
        }
        let ticks: [(Double, String)] = [(1, "0%"), (10, "90%"), (100, "99%"), (1000, "99.9%"), (10000, "99.99%"), (100000, "99.999%")]
        return SVGChart(title: "Latency by percentile (HDR)", xLabel: "percentile", yLabel: "latency (ms)", series: series,
                        xScale: .log, yScale: .log, xTicks: ticks)
    }

    static func percentilePoints(_ histogram: Histogram<UInt64>) -> [(x: Double, y: Double)] {
        var points: [(x: Double, y: Double)] = []
        guard histogram.totalCount > 0 else { return points }
        for step in histogram.percentiles(ticksPerHalfDistance: 5) {
            let p = step.percentileLevelIteratedTo / 100
            guard p < 1 else { break }
            points.append((1 / (1 - p), Double(step.value) / 1000))
        }
        points.append((Swift.max(points.last?.x ?? 1, Double(histogram.totalCount)), Double(histogram.max) / 1000))
        return points
    }
}
