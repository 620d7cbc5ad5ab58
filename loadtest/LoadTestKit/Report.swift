import Foundation
import Histogram

/// What a run measured: counts, errors by class, the latency histogram (microseconds, 3
/// significant digits) and a per-second series. Encodes to the `--json` file, whose top level
/// has `requests`, `errors`, `duration_s`, `rps` and `latency_ms` as scripts expect; the
/// histogram travels with it so `merge` is exact.
public struct Report: Codable, Sendable {
    public struct Latency: Codable, Sendable, Equatable {
        public var p50: Double, p90: Double, p99: Double, p999: Double, p9999: Double, max: Double, mean: Double, min: Double
    }

    /// One bucket of the series: second `t` of the measured window, by when things happened.
    /// Fields after `p99_ms` are newer than the format and absent from older reports.
    public struct Second: Codable, Sendable {
        public var t: Int
        public var requests: Int
        /// Responses ≥ 400 and failed attempts.
        public var errors: Int
        public var p99_ms: Double
        /// The bucket's real length: 1 s, except the last, which runs to the end of the window
        /// and takes the answers that arrived after it (so a run's end is no false drop to 0).
        public var length_s: Double?
        public var p50_ms: Double?
        public var p90_ms: Double?
        public var p999_ms: Double?
        public var max_ms: Double?
        /// Requests sent in the bucket.
        public var sent: Int?
        /// Open loop: the schedule's rate over the bucket.
        public var target_rps: Double?
        public var errors_by_class: ErrorClasses?
        public var status: [String: Int]?

        /// Answers per second of the bucket's real length.
        public var rps: Double { Double(requests) / Swift.max(1e-9, length_s ?? 1) }
    }

    public struct ErrorClasses: Codable, Sendable, Equatable {
        public var connect = 0, timeout = 0, io = 0, protocol_ = 0, status_4xx = 0, status_5xx = 0
        enum CodingKeys: String, CodingKey { case connect, timeout, io, protocol_ = "protocol", status_4xx, status_5xx }
        public var total: Int { connect + timeout + io + protocol_ + status_4xx + status_5xx }

        public mutating func add(_ other: ErrorClasses) {
            connect += other.connect
            timeout += other.timeout
            io += other.io
            protocol_ += other.protocol_
            status_4xx += other.status_4xx
            status_5xx += other.status_5xx
        }

        /// (label, count) in a fixed order, for tables and charts.
        public var labelled: [(String, Int)] {
            [("connect", connect), ("timeout", timeout), ("io", io), ("protocol", protocol_), ("4xx", status_4xx), ("5xx", status_5xx)]
        }
    }

    public var url: String
    public var mode: String
    public var connections: Int
    public var threads: Int
    public var target_rate: Double?
    public var requests: Int
    public var errors: Int
    public var duration_s: Double
    public var rps: Double
    public var latency_ms: Latency
    public var errors_by_class: ErrorClasses
    public var status: [String: Int]
    public var warmup_requests: Int
    public var timeseries: [Second]
    public var thresholds: [String: Bool]
    public var histogram_us: Histogram<UInt64>
    /// Each named request of a scenario with several (absent otherwise, and in older reports).
    public var per_request: [RequestFigures]?
    /// Whether the generator kept up; absent in older reports.
    public var generator: GeneratorHealth?
    /// The command, version, start time and machine.
    public var run: RunInfo?

    public var latency: Latency { latency_ms }
    /// Errors over all attempts (responses plus failed attempts that got none).
    public var errorRate: Double {
        let attempts = requests + errors_by_class.connect + errors_by_class.timeout + errors_by_class.io + errors_by_class.protocol_
        return attempts == 0 ? 0 : Double(errors) / Double(attempts)
    }

    static func latency(of histogram: Histogram<UInt64>) -> Latency {
        func ms(_ v: UInt64) -> Double { Double(v) / 1000 }
        guard histogram.totalCount > 0 else { return Latency(p50: 0, p90: 0, p99: 0, p999: 0, p9999: 0, max: 0, mean: 0, min: 0) }
        return Latency(p50: ms(histogram.valueAtPercentile(50)), p90: ms(histogram.valueAtPercentile(90)),
                       p99: ms(histogram.valueAtPercentile(99)), p999: ms(histogram.valueAtPercentile(99.9)),
                       p9999: ms(histogram.valueAtPercentile(99.99)), max: ms(histogram.max),
                       mean: histogram.mean / 1000, min: ms(histogram.min))
    }

    /// Combines runs made at the same time on several machines: histograms add exactly,
    /// counts add, the duration is the longest, so the rate is the sum of the parts.
    public static func merge(_ reports: [Report]) throws(LoadTestError) -> Report {
        guard var merged = reports.first else { throw .invalid("nothing to merge") }
        for other in reports.dropFirst() {
            combine(&merged.histogram_us, other.histogram_us)
            if let theirs = other.per_request {
                var mine = merged.per_request ?? []
                for figures in theirs {
                    if let i = mine.firstIndex(where: { $0.name == figures.name }) { mine[i].add(figures) } else { mine.append(figures) }
                }
                merged.per_request = mine
            }
            if let theirs = other.generator { merged.generator = merged.generator.map { $0.merged(with: theirs) } ?? theirs }
            merged.requests += other.requests
            merged.errors += other.errors
            merged.warmup_requests += other.warmup_requests
            merged.connections += other.connections
            merged.threads += other.threads
            merged.duration_s = max(merged.duration_s, other.duration_s)
            merged.errors_by_class.add(other.errors_by_class)
            for (k, v) in other.status { merged.status[k, default: 0] += v }
            if let rate = other.target_rate { merged.target_rate = (merged.target_rate ?? 0) + rate }
            for second in other.timeseries {
                if let i = merged.timeseries.firstIndex(where: { $0.t == second.t }) {
                    merged.timeseries[i].add(second)
                } else {
                    merged.timeseries.append(second)
                }
            }
        }
        merged.timeseries.sort { $0.t < $1.t }
        for i in merged.per_request?.indices ?? [].indices {
            merged.per_request![i].rps = merged.duration_s > 0 ? Double(merged.per_request![i].requests) / merged.duration_s : 0
        }
        merged.rps = merged.duration_s > 0 ? Double(merged.requests) / merged.duration_s : 0
        merged.latency_ms = latency(of: merged.histogram_us)
        merged.url = Set(reports.map(\.url)).sorted().joined(separator: " ")
        return merged
    }

    /// A report from an HdrHistogram interval log (latencies only: a log holds no error counts).
    public static func fromHdrLog(_ path: String) throws -> Report {
        let intervals = try HdrLog.read(path)
        // At the log's own precision, so the sum of its intervals is exact.
        var total = Histogram<UInt64>(highestTrackableValue: 3_600_000_000,
                                      numberOfSignificantValueDigits: intervals.first?.histogram.numberOfSignificantValueDigits ?? .three)
        var series: [Second] = []
        var first = Double.infinity, last = 0.0
        for (start, length, histogram) in intervals {
            combine(&total, histogram)
            first = Swift.min(first, start)
            last = Swift.max(last, start + length)
            series.append(Second(t: Int(start.rounded(.down)), requests: Int(histogram.totalCount), errors: 0,
                                 p99_ms: Double(histogram.valueAtPercentile(99)) / 1000))
        }
        let duration = intervals.isEmpty ? 0 : last - first
        let requests = Int(total.totalCount)
        return Report(url: path, mode: "log", connections: 0, threads: 0, target_rate: nil, requests: requests, errors: 0,
                      duration_s: duration, rps: duration > 0 ? Double(requests) / duration : 0, latency_ms: latency(of: total),
                      errors_by_class: ErrorClasses(), status: [:], warmup_requests: 0, timeseries: series, thresholds: [:],
                      histogram_us: total)
    }

    /// Adds `other` into `total`: exactly when the layouts match, else value by value at
    /// `other`'s resolution (a 2-digit log into a 3-digit report).
    static func combine(_ total: inout Histogram<UInt64>, _ other: Histogram<UInt64>) {
        if total.numberOfSignificantValueDigits == other.numberOfSignificantValueDigits
            && total.lowestDiscernibleValue == other.lowestDiscernibleValue {
            total.add(other)
            return
        }
        for step in other.recordedValues() {
            _ = total.record(other.medianEquivalentForValue(step.value), count: UInt64(step.count))
        }
    }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(self)
    }

    public static func load(_ path: String) throws -> Report {
        guard let data = FileManager.default.contents(atPath: path) else { throw LoadTestError.invalid("cannot read \(path)") }
        do { return try JSONDecoder().decode(Report.self, from: data) } catch {
            throw LoadTestError.invalid("\(path) is not a loadtest --json report: \(error)")
        }
    }

    /// wrk's summary, then the percentile table.
    public var text: String {
        func f(_ ms: Double) -> String {
            if ms >= 1000 { return String(format: "%.2fs", ms / 1000) }
            if ms >= 1 { return String(format: "%.2fms", ms) }
            return String(format: "%.0fus", ms * 1000)
        }
        var out = "Running \(String(format: "%.1f", duration_s))s test @ \(url)\n"
        out += "  \(threads) threads and \(connections) connections, \(mode) loop"
        if let target_rate { out += " at \(String(format: "%.0f", target_rate)) requests/s (latency from intended start)" }
        out += "\n  Latency  mean \(f(latency_ms.mean))  p50 \(f(latency_ms.p50))  p90 \(f(latency_ms.p90))  p99 \(f(latency_ms.p99))  max \(f(latency_ms.max))\n"
        out += "  Latency Distribution\n"
        for (label, value) in [("50%", latency_ms.p50), ("90%", latency_ms.p90), ("99%", latency_ms.p99),
                               ("99.9%", latency_ms.p999), ("99.99%", latency_ms.p9999), ("100%", latency_ms.max)] {
            out += "  \(label.padding(toLength: 7, withPad: " ", startingAt: 0)) \(f(value))\n"
        }
        out += "  \(requests) requests in \(String(format: "%.2f", duration_s))s\n"
        if errors > 0 {
            let e = errors_by_class
            out += "  Errors: connect \(e.connect), timeout \(e.timeout), io \(e.io), protocol \(e.protocol_), 4xx \(e.status_4xx), 5xx \(e.status_5xx)\n"
        }
        out += "Requests/sec: \(String(format: "%.2f", rps))\n"
        for (name, ok) in thresholds.sorted(by: { $0.key < $1.key }) { out += "  threshold \(name): \(ok ? "ok" : "FAILED")\n" }
        if let per_request {
            let width = min(40, max(8, per_request.map(\.name.count).max() ?? 8))
            func cell(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
            out += "  Per request\n  " + "name".padding(toLength: width, withPad: " ", startingAt: 0)
            out += ["requests", "errors", "req/s", "p50", "p90", "p99", "max"].map { cell($0, 10) }.joined() + "\n"
            for r in per_request {
                let name = r.name.count > width ? String(r.name.prefix(width - 1)) + "…" : r.name.padding(toLength: width, withPad: " ", startingAt: 0)
                out += "  " + name + [String(r.requests), String(r.errors), String(format: "%.1f", r.rps), f(r.latency_ms.p50),
                                      f(r.latency_ms.p90), f(r.latency_ms.p99), f(r.latency_ms.max)].map { cell($0, 10) }.joined() + "\n"
            }
        }
        if let generator { out += generator.summary }
        return out
    }

    /// The full percentile distribution in HdrHistogram's text layout (milliseconds).
    public var percentileDistribution: String {
        var out = "   Value(ms)     Percentile TotalCount 1/(1-Percentile)\n"
        for step in histogram_us.percentiles(ticksPerHalfDistance: 5) {
            let p = step.percentileLevelIteratedTo / 100
            out += String(format: "%12.3f %14.12f %10lu", Double(step.value) / 1000, p, UInt(step.totalCountToThisValue))
            out += p < 1 ? String(format: " %14.2f\n", 1 / (1 - p)) : "\n"
        }
        return out
    }
}

extension Report.Second {
    /// Another machine's same second. Percentiles cannot be merged exactly without the
    /// seconds' histograms: each keeps the worse of the two.
    mutating func add(_ other: Report.Second) {
        func worse(_ a: Double?, _ b: Double?) -> Double? { a.map { Swift.max($0, b ?? $0) } ?? b }
        func sum(_ a: Int?, _ b: Int?) -> Int? { a.map { $0 + (b ?? 0) } ?? b }
        requests += other.requests
        errors += other.errors
        p99_ms = Swift.max(p99_ms, other.p99_ms)
        p50_ms = worse(p50_ms, other.p50_ms)
        p90_ms = worse(p90_ms, other.p90_ms)
        p999_ms = worse(p999_ms, other.p999_ms)
        max_ms = worse(max_ms, other.max_ms)
        length_s = worse(length_s, other.length_s)
        sent = sum(sent, other.sent)
        target_rps = other.target_rps.map { ($0) + (target_rps ?? 0) } ?? target_rps
        if let theirs = other.errors_by_class {
            var mine = errors_by_class ?? Report.ErrorClasses()
            mine.add(theirs)
            errors_by_class = mine
        }
        if let theirs = other.status {
            var mine = status ?? [:]
            for (k, v) in theirs { mine[k, default: 0] += v }
            status = mine
        }
    }
}
