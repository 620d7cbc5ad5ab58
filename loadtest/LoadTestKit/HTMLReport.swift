import Foundation

/// A self-contained HTML report: the latency-percentile curve (log scale of 1/(1−p)), and
/// throughput and p99 over time, as inline SVG. No scripts, no network.
public enum HTMLReport {
    public static func render(_ report: Report) -> String {
        var points: [(Double, Double)] = []
        for step in report.histogram_us.percentiles(ticksPerHalfDistance: 5) {
            let p = step.percentileLevelIteratedTo / 100
            guard p < 1 else { break }
            points.append((log10(1 / (1 - p)), Double(step.value) / 1000))
        }
        let percentileChart = chart(points, xLabel: "percentile", yLabel: "latency (ms)",
                                    xTicks: [(0, "0%"), (1, "90%"), (2, "99%"), (3, "99.9%"), (4, "99.99%"), (5, "99.999%")])
        let throughput = chart(report.timeseries.map { (Double($0.t), Double($0.requests)) }, xLabel: "second", yLabel: "requests/s", xTicks: [])
        let p99 = chart(report.timeseries.map { (Double($0.t), $0.p99_ms) }, xLabel: "second", yLabel: "p99 (ms)", xTicks: [])
        let rows = [("requests", "\(report.requests)"), ("errors", "\(report.errors)"),
                    ("duration", String(format: "%.2f s", report.duration_s)), ("requests/s", String(format: "%.1f", report.rps)),
                    ("p50", String(format: "%.3f ms", report.latency_ms.p50)), ("p90", String(format: "%.3f ms", report.latency_ms.p90)),
                    ("p99", String(format: "%.3f ms", report.latency_ms.p99)), ("p99.9", String(format: "%.3f ms", report.latency_ms.p999)),
                    ("max", String(format: "%.3f ms", report.latency_ms.max))]
        let table = rows.map { "<tr><th>\($0.0)</th><td>\($0.1)</td></tr>" }.joined()
        return """
            <!doctype html><html><head><meta charset="utf-8"><title>loadtest \(escape(report.url))</title>
            <style>body{font:14px sans-serif;margin:2em}th{text-align:left;padding-right:1em}svg{margin:1em 0}</style></head>
            <body><h1>loadtest</h1><p>\(escape(report.url)) — \(report.mode) loop, \(report.connections) connections, \(report.threads) threads</p>
            <table>\(table)</table><h2>Latency by percentile</h2>\(percentileChart)
            <h2>Throughput</h2>\(throughput)<h2>p99 over time</h2>\(p99)</body></html>
            """
    }

    static func chart(_ points: [(Double, Double)], xLabel: String, yLabel: String, xTicks: [(Double, String)]) -> String {
        let width = 640.0, height = 240.0, left = 60.0, bottom = 30.0
        guard !points.isEmpty else { return "<p>no data</p>" }
        let maxX = max(points.map(\.0).max()!, xTicks.map(\.0).max() ?? 0, 1)
        let maxY = max(points.map(\.1).max()!, 1e-9)
        func sx(_ x: Double) -> Double { left + x / maxX * (width - left - 10) }
        func sy(_ y: Double) -> Double { height - bottom - y / maxY * (height - bottom - 10) }
        let path = points.map { String(format: "%.1f,%.1f", sx($0.0), sy($0.1)) }.joined(separator: " ")
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\">"
        svg += "<line x1=\"\(left)\" y1=\"\(height - bottom)\" x2=\"\(width - 10)\" y2=\"\(height - bottom)\" stroke=\"#000\"/>"
        svg += "<line x1=\"\(left)\" y1=\"10\" x2=\"\(left)\" y2=\"\(height - bottom)\" stroke=\"#000\"/>"
        svg += "<polyline fill=\"none\" stroke=\"#2a6fdb\" stroke-width=\"2\" points=\"\(path)\"/>"
        for (x, label) in xTicks where x <= maxX {
            svg += "<text x=\"\(String(format: "%.1f", sx(x)))\" y=\"\(height - 12)\" font-size=\"11\" text-anchor=\"middle\">\(label)</text>"
        }
        svg += "<text x=\"\(left)\" y=\"\(height - 1)\" font-size=\"11\">\(xLabel)</text>"
        svg += "<text x=\"4\" y=\"20\" font-size=\"11\">\(escape(yLabel)) max \(String(format: "%.2f", maxY))</text></svg>"
        return svg
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
