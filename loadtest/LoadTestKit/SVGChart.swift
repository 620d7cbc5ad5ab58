import Foundation

/// A line or scatter chart as inline SVG: axes with ticks at round values, labels with units,
/// a legend, optional reference lines (an SLO) and markers (a knee). The reports are one file
/// that opens anywhere, so there is no script and no external asset.
struct SVGChart {
    struct Series {
        var name: String
        var color: String
        var points: [(x: Double, y: Double)]
        var dashed = false
        /// Dots instead of a line (trials of a capacity search).
        var dots = false
    }

    enum Scale { case linear, log }

    var title: String
    var xLabel: String
    var yLabel: String
    var series: [Series]
    var xScale = Scale.linear
    var yScale = Scale.linear
    /// Replaces the x axis's numeric ticks (e.g. percentiles on a 1/(1−p) axis).
    var xTicks: [(value: Double, label: String)]?
    /// Horizontal lines: (y, label).
    var references: [(value: Double, label: String)] = []
    /// Vertical lines: (x, label).
    var markers: [(value: Double, label: String)] = []
    /// A shaded x interval (a capacity range).
    var band: (low: Double, high: Double, label: String)?
    /// The y axis starts at 0 on a linear scale (rates, counts) rather than at the data.
    var yFromZero = true

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    static let width = 760.0, height = 300.0
    static let left = 70.0, right = 170.0, top = 30.0, bottom = 48.0

    func render() -> String {
        let all = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite && (yScale == .linear || $0.y > 0) }
        var svg = "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" class=\"chart\" viewBox=\"0 0 \(Int(Self.width)) \(Int(Self.height))\" width=\"\(Int(Self.width))\" height=\"\(Int(Self.height))\">"
        svg += "<title>\(HTMLText.escape(title))</title>"
        svg += "<text class=\"chart-title\" x=\"\(Self.left)\" y=\"18\" font-size=\"13\" font-weight=\"bold\">\(HTMLText.escape(title))</text>"
        guard !all.isEmpty else {
            svg += "<text x=\"\(Self.left)\" y=\"\(Self.height / 2)\" font-size=\"12\">no data</text></svg></figure>"
            return svg
        }
        var xs = all.map(\.x) + markers.map(\.value) + (band.map { [$0.low, $0.high] } ?? [])
        var ys = all.map(\.y) + references.map(\.value)
        if yScale == .linear && yFromZero { ys.append(0) }
        if xs.min() == xs.max() { xs.append(xs[0] + 1) }
        if ys.min() == ys.max() { ys.append(ys[0] == 0 ? 1 : ys[0] * 1.1) }
        let xAxis = Axis(low: xs.min()!, high: xs.max()!, scale: xScale)
        let yAxis = Axis(low: ys.filter { yScale == .linear || $0 > 0 }.min()!, high: ys.max()!, scale: yScale)
        let plotLeft = Self.left, plotRight = Self.width - Self.right, plotTop = Self.top, plotBottom = Self.height - Self.bottom
        func px(_ x: Double) -> Double { plotLeft + xAxis.fraction(x) * (plotRight - plotLeft) }
        func py(_ y: Double) -> Double { plotBottom - yAxis.fraction(y) * (plotBottom - plotTop) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        // Grid and ticks.
        for (value, label) in yAxis.ticks() {
            let y = py(value)
            svg += "<line x1=\"\(f(plotLeft))\" y1=\"\(f(y))\" x2=\"\(f(plotRight))\" y2=\"\(f(y))\" stroke=\"#e4e4e4\"/>"
            svg += "<text class=\"tick\" x=\"\(f(plotLeft - 6))\" y=\"\(f(y + 4))\" font-size=\"11\" text-anchor=\"end\">\(label)</text>"
        }
        for (value, label) in xTicks.map({ $0.filter { $0.value >= xAxis.low && $0.value <= xAxis.high } }) ?? xAxis.ticks() {
            let x = px(value)
            svg += "<line x1=\"\(f(x))\" y1=\"\(f(plotTop))\" x2=\"\(f(x))\" y2=\"\(f(plotBottom))\" stroke=\"#f0f0f0\"/>"
            svg += "<line x1=\"\(f(x))\" y1=\"\(f(plotBottom))\" x2=\"\(f(x))\" y2=\"\(f(plotBottom + 4))\" stroke=\"#000\"/>"
            svg += "<text class=\"tick\" x=\"\(f(x))\" y=\"\(f(plotBottom + 16))\" font-size=\"11\" text-anchor=\"middle\">\(HTMLText.escape(label))</text>"
        }
        svg += "<line x1=\"\(f(plotLeft))\" y1=\"\(f(plotBottom))\" x2=\"\(f(plotRight))\" y2=\"\(f(plotBottom))\" stroke=\"#000\"/>"
        svg += "<line x1=\"\(f(plotLeft))\" y1=\"\(f(plotTop))\" x2=\"\(f(plotLeft))\" y2=\"\(f(plotBottom))\" stroke=\"#000\"/>"
        svg += "<text class=\"axis-label\" x=\"\(f((plotLeft + plotRight) / 2))\" y=\"\(f(Self.height - 8))\" font-size=\"12\" text-anchor=\"middle\">\(HTMLText.escape(xLabel))</text>"
        svg += "<text class=\"axis-label\" transform=\"translate(14 \(f((plotTop + plotBottom) / 2))) rotate(-90)\" font-size=\"12\" text-anchor=\"middle\">\(HTMLText.escape(yLabel))</text>"

        // Reference lines and markers under the data.
        for (value, label) in references where yScale == .linear || value > 0 {
            let y = py(value)
            svg += "<line x1=\"\(f(plotLeft))\" y1=\"\(f(y))\" x2=\"\(f(plotRight))\" y2=\"\(f(y))\" stroke=\"#b00\" stroke-dasharray=\"6 3\"/>"
            svg += "<text x=\"\(f(plotRight - 4))\" y=\"\(f(y - 4))\" font-size=\"11\" fill=\"#b00\" text-anchor=\"end\">\(HTMLText.escape(label))</text>"
        }
        if let band {
            let x0 = px(band.low), x1 = px(band.high)
            svg += "<rect class=\"band\" x=\"\(f(x0))\" y=\"\(f(plotTop))\" width=\"\(f(max(1, x1 - x0)))\" height=\"\(f(plotBottom - plotTop))\" fill=\"#2ca02c\" fill-opacity=\"0.15\"><title>\(HTMLText.escape(band.label))</title></rect>"
        }
        for (i, (value, label)) in markers.enumerated() {
            // Labels step down so that markers close together stay readable.
            let x = px(value)
            svg += "<line x1=\"\(f(x))\" y1=\"\(f(plotTop))\" x2=\"\(f(x))\" y2=\"\(f(plotBottom))\" stroke=\"#555\" stroke-dasharray=\"2 3\"/>"
            let anchor = x > (plotLeft + plotRight) / 2 ? "end" : "start"
            svg += "<text x=\"\(f(anchor == "end" ? x - 4 : x + 4))\" y=\"\(f(plotTop + 12 + Double(i) * 13))\" font-size=\"11\" fill=\"#555\" text-anchor=\"\(anchor)\">\(HTMLText.escape(label))</text>"
        }

        for (i, s) in series.enumerated() {
            let points = s.points.filter { $0.x.isFinite && $0.y.isFinite && (yScale == .linear || $0.y > 0) }
            guard !points.isEmpty else { continue }
            if s.dots {
                for p in points {
                    svg += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"3\" fill=\"\(s.color)\"><title>\(HTMLText.escape(s.name)): \(Axis.label(p.x)), \(Axis.label(p.y))</title></circle>"
                }
            } else {
                let path = points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
                svg += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.8\"\(s.dashed ? " stroke-dasharray=\"5 3\"" : "") points=\"\(path)\"/>"
            }
            let ly = plotTop + 6 + Double(i) * 16
            svg += "<rect x=\"\(f(plotRight + 12))\" y=\"\(f(ly - 8))\" width=\"12\" height=\"3\" fill=\"\(s.color)\"/>"
            svg += "<text class=\"legend\" x=\"\(f(plotRight + 28))\" y=\"\(f(ly - 3))\" font-size=\"11\">\(HTMLText.escape(s.name))</text>"
        }
        return svg + "</svg></figure>"
    }

    /// One axis: its range, rounded outwards to tick values, and the ticks.
    struct Axis {
        var low: Double, high: Double
        let scale: Scale

        init(low: Double, high: Double, scale: Scale) {
            self.scale = scale
            switch scale {
            case .linear:
                let step = Axis.step(for: high - low)
                self.low = (low / step).rounded(.down) * step
                self.high = (high / step).rounded(.up) * step
            case .log:
                self.low = pow(10, log10(max(low, 1e-9)).rounded(.down))
                self.high = pow(10, log10(max(high, 1e-9)).rounded(.up))
                if self.high <= self.low { self.high = self.low * 10 }
            }
        }

        /// A round step (1, 2 or 5 × 10ⁿ) giving about five ticks over `range`.
        static func step(for range: Double) -> Double {
            guard range > 0 else { return 1 }
            let raw = range / 5
            let magnitude = pow(10, log10(raw).rounded(.down))
            for m in [1.0, 2.0, 5.0, 10.0] where raw <= m * magnitude { return m * magnitude }
            return 10 * magnitude
        }

        func fraction(_ v: Double) -> Double {
            switch scale {
            case .linear: return high > low ? (v - low) / (high - low) : 0
            case .log: return (log10(max(v, 1e-12)) - log10(low)) / max(1e-12, log10(high) - log10(low))
            }
        }

        func ticks() -> [(Double, String)] {
            switch scale {
            case .linear:
                let step = Axis.step(for: high - low)
                var out: [(Double, String)] = []
                var v = low
                while v <= high + step / 1000 && out.count < 20 {
                    out.append((v, Axis.label(abs(v) < step / 1000 ? 0 : v)))
                    v += step
                }
                return out
            case .log:
                var out: [(Double, String)] = []
                let decades = Int((log10(high) - log10(low)).rounded())
                var v = low
                while v <= high * 1.0001 {
                    out.append((v, Axis.label(v)))
                    // Few decades: 2 and 5 as well, so the axis is readable.
                    if decades <= 2 && v * 10 <= high * 1.0001 {
                        out.append((v * 2, Axis.label(v * 2)))
                        out.append((v * 5, Axis.label(v * 5)))
                    }
                    v *= 10
                }
                return out
            }
        }

        /// 0.25, 3, 1.5k, 20k, 1.2M: short and exact enough for a tick.
        static func label(_ v: Double) -> String {
            let a = abs(v)
            func trim(_ s: String) -> String {
                guard s.contains(".") else { return s }
                var t = s
                while t.hasSuffix("0") { t.removeLast() }
                if t.hasSuffix(".") { t.removeLast() }
                return t
            }
            if a >= 1e6 { return trim(String(format: "%.2f", v / 1e6)) + "M" }
            if a >= 1e4 { return trim(String(format: "%.1f", v / 1e3)) + "k" }
            if a >= 100 { return String(format: "%.0f", v) }
            if a >= 1 { return trim(String(format: "%.2f", v)) }
            if a == 0 { return "0" }
            return trim(String(format: "%.4f", v))
        }
    }
}

enum HTMLText {
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// The page around the sections: one file, inline style, no script.
    static func page(title: String, body: String) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
        <title>\(escape(title))</title>
        <style>
        body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
        h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
        table{border-collapse:collapse;margin:.5em 0}th,td{padding:.2em .7em;border-bottom:1px solid #eee;text-align:right}
        th:first-child,td:first-child{text-align:left}thead th{background:#f6f6f6}
        .pass{color:#176c2c;font-weight:bold}.fail{color:#b00;font-weight:bold}
        .warning{background:#fff3cd;border:1px solid #e0b100;padding:.6em 1em;margin:1em 0}
        .meta td,.meta th{text-align:left}code{background:#f4f4f4;padding:0 .3em}figure{margin:0}
        </style></head><body>
        \(body)
        </body></html>
        """
    }

    static func table(_ header: [String], _ rows: [[String]], classes: [String?]? = nil) -> String {
        var out = "<table><thead><tr>" + header.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead><tbody>"
        for (i, row) in rows.enumerated() {
            let c = classes?[i].map { " class=\"\($0)\"" } ?? ""
            out += "<tr\(c)>" + row.map { "<td>\(escape($0))</td>" }.joined() + "</tr>"
        }
        return out + "</tbody></table>"
    }
}
