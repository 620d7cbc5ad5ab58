/// A pass/fail condition on a run's figures: `p99<20ms`, `errors<0.1%`, `rps>5000`,
/// `p50<=2ms`, `max<1s`, `mean<5ms`; on one named request of a scenario with
/// `p99[search]<20ms` (as k6's tagged thresholds). Checked after the run; any failure makes
/// the exit code 1.
public struct Threshold: Sendable, Equatable, CustomStringConvertible {
    public enum Metric: String, Sendable { case p50, p90, p99, p999, p9999, max, mean, errors, rps }
    public enum Comparison: String, Sendable { case less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">=" }

    public let metric: Metric
    public let comparison: Comparison
    /// Milliseconds for latencies, a fraction (0.001 = 0.1 %) for errors, requests/s for rps.
    public let value: Double
    public let text: String
    /// A named request's figures instead of the whole run's.
    public let request: String?

    public var description: String { text }

    public init(_ text: String) throws(LoadTestError) {
        // `[name]` is cut out first: whitespace is dropped from the rest, not from the name.
        var request: String?
        var figure = text
        if let open = text.firstIndex(of: "["), let close = text[open...].firstIndex(of: "]") {
            let name = text[text.index(after: open)..<close].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else { throw .invalid("threshold '\(text)': name the request, e.g. p99[search]<20ms") }
            request = name
            figure = String(text[..<open]) + String(text[text.index(after: close)...])
        }
        self.request = request
        let trimmed = figure.filter { !$0.isWhitespace }
        guard let opIndex = trimmed.firstIndex(where: { $0 == "<" || $0 == ">" }) else {
            throw .invalid("threshold '\(text)' needs < or >, e.g. p99<20ms")
        }
        let metricText = String(trimmed[..<opIndex])
        self.text = request.map { metricText + "[\($0)]" + trimmed[opIndex...] } ?? trimmed
        guard let metric = Metric(rawValue: metricText.lowercased()) else {
            throw .invalid("threshold '\(text)': the metric is one of p50, p90, p99, p999, p9999, max, mean, errors, rps")
        }
        var rest = trimmed[opIndex...]
        let comparison: Comparison
        if rest.hasPrefix("<=") { comparison = .lessOrEqual; rest = rest.dropFirst(2) }
        else if rest.hasPrefix(">=") { comparison = .greaterOrEqual; rest = rest.dropFirst(2) }
        else if rest.hasPrefix("<") { comparison = .less; rest = rest.dropFirst() }
        else { comparison = .greater; rest = rest.dropFirst() }
        let unitStart = rest.firstIndex { !($0.isNumber || $0 == ".") } ?? rest.endIndex
        guard let number = Double(rest[..<unitStart]) else { throw .invalid("threshold '\(text)': no number") }
        let unit = String(rest[unitStart...]).lowercased()
        switch metric {
        case .errors:
            guard unit == "%" || unit.isEmpty else { throw .invalid("threshold '\(text)': errors take a percentage, e.g. errors<0.1%") }
            value = unit == "%" ? number / 100 : number
        case .rps:
            guard unit.isEmpty || unit == "/s" else { throw .invalid("threshold '\(text)': rps takes a plain number") }
            value = number
        default:
            switch unit {
            case "us", "µs": value = number / 1000
            case "ms", "": value = number
            case "s": value = number * 1000
            default: throw .invalid("threshold '\(text)': latency units are us, ms or s")
            }
        }
        self.metric = metric
        self.comparison = comparison
    }

    /// The measured value this threshold looks at (nil: the named request is not in the run).
    /// A run of one request keeps no breakdown: its totals are that request's figures.
    public func measured(in report: Report) -> Double? {
        if let request, let breakdown = report.per_request {
            guard let figures = breakdown.first(where: { $0.name == request }) else { return nil }
            return pick(figures.latency_ms, errorRate: figures.errorRate, rps: figures.rps)
        }
        return pick(report.latency, errorRate: report.errorRate, rps: report.rps)
    }

    private func pick(_ latency: Report.Latency, errorRate: Double, rps: Double) -> Double {
        switch metric {
        case .p50: return latency.p50
        case .p90: return latency.p90
        case .p99: return latency.p99
        case .p999: return latency.p999
        case .p9999: return latency.p9999
        case .max: return latency.max
        case .mean: return latency.mean
        case .errors: return errorRate
        case .rps: return rps
        }
    }

    public func holds(for report: Report) -> Bool {
        guard let v = measured(in: report) else { return false }
        switch comparison {
        case .less: return v < value
        case .lessOrEqual: return v <= value
        case .greater: return v > value
        case .greaterOrEqual: return v >= value
        }
    }

    /// A comma-separated list: `p99<50ms,errors<0.1%`.
    public static func list(_ text: String) throws(LoadTestError) -> [Threshold] {
        var out: [Threshold] = []
        for part in text.split(separator: ",") where !part.allSatisfy(\.isWhitespace) { out.append(try Threshold(String(part))) }
        return out
    }
}
