import Histogram

/// One named request's share of a worker's run (a scenario with several names): what k6's tags
/// and Gatling's per-request table show. Recorded on the worker's loop like the totals.
struct RequestStats {
    var requests = 0
    var failures = Worker.Errors()
    var statuses: [Int: Int] = [:]
    var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)

    mutating func record(status: Int, micros: UInt64) {
        requests += 1
        statuses[status, default: 0] += 1
        _ = histogram.record(micros)
    }

    mutating func add(_ other: RequestStats) {
        requests += other.requests
        failures.add(other.failures)
        for (k, v) in other.statuses { statuses[k, default: 0] += v }
        histogram.add(other.histogram)
    }
}

extension Report.ErrorClasses {
    /// Failed attempts by kind, and the answers ≥ 400 among `statuses` (status, count).
    init(_ failures: Worker.Errors, statuses: [(Int, Int)]) {
        self.init()
        connect = failures.connect
        timeout = failures.timeout
        io = failures.io
        protocol_ = failures.protocolErrors
        for (status, count) in statuses {
            if (400..<500).contains(status) { status_4xx += count }
            if status >= 500 { status_5xx += count }
        }
    }
}

extension Report {
    /// A named request's figures in the report (`per_request` in the JSON), with its histogram
    /// so that `merge` and `compare` work from the distribution, not from rounded percentiles.
    public struct RequestFigures: Codable, Sendable {
        public var name: String
        public var requests: Int
        public var errors: Int
        public var rps: Double
        public var latency_ms: Latency
        public var errors_by_class: ErrorClasses
        public var status: [String: Int]
        public var histogram_us: Histogram<UInt64>

        init(name: String, stats: RequestStats, duration: Double) {
            let classes = ErrorClasses(stats.failures, statuses: stats.statuses.map { ($0.key, $0.value) })
            self.name = name
            requests = stats.requests
            errors = classes.total
            rps = Double(stats.requests) / duration
            latency_ms = Report.latency(of: stats.histogram)
            errors_by_class = classes
            status = Dictionary(uniqueKeysWithValues: stats.statuses.map { (String($0.key), $0.value) })
            histogram_us = stats.histogram
        }

        /// Errors over all attempts, as `Report.errorRate`.
        public var errorRate: Double {
            let c = errors_by_class
            let attempts = requests + c.connect + c.timeout + c.io + c.protocol_
            return attempts == 0 ? 0 : Double(errors) / Double(attempts)
        }

        mutating func add(_ other: RequestFigures) {
            Report.combine(&histogram_us, other.histogram_us)
            requests += other.requests
            errors += other.errors
            errors_by_class.add(other.errors_by_class)
            for (k, v) in other.status { status[k, default: 0] += v }
            latency_ms = Report.latency(of: histogram_us)
        }
    }
}
