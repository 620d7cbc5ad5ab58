import Histogram

/// Whether loadtest itself kept up. A generator short of CPU sends late, and because latency is
/// measured from each request's intended start, its own lateness shows up as the server's:
/// the report would blame the wrong machine. So every output says when that happened, and
/// `--strict-generator` turns it into a failed run.
public struct GeneratorHealth: Codable, Sendable, Equatable {
    public struct Lag: Codable, Sendable, Equatable {
        public var p50: Double, p99: Double, max: Double
    }

    /// Each loop thread's CPU time over its wall time during the run (1.0 = a full core).
    public var cpu_busy: [Double]
    /// Open loop: how late requests left the schedule (ms), measured at release.
    public var schedule_lag_ms: Lag?
    /// Empty when the generator kept up; else one sentence per problem.
    public var warnings: [String]

    public var keptUp: Bool { warnings.isEmpty }

    /// A thread this busy has no slack to send on time or read answers promptly.
    public static let busyLimit = 0.9
    /// Open loop: a p99 release lag beyond this is the generator's, not the server's, latency.
    public static let lagLimitMilliseconds = 2.0

    init(cpuBusy: [Double], scheduleLag: Histogram<UInt64>?) {
        cpu_busy = cpuBusy
        warnings = []
        if let scheduleLag, scheduleLag.totalCount > 0 {
            let lag = Lag(p50: Double(scheduleLag.valueAtPercentile(50)) / 1000, p99: Double(scheduleLag.valueAtPercentile(99)) / 1000,
                          max: Double(scheduleLag.max) / 1000)
            schedule_lag_ms = lag
            if lag.p99 > GeneratorHealth.lagLimitMilliseconds {
                warnings.append(String(format: "generator behind schedule: p99 send lag %.2f ms (limit %.1f ms); latencies include it",
                                       lag.p99, GeneratorHealth.lagLimitMilliseconds))
            }
        }
        let busiest = cpuBusy.max() ?? 0
        if busiest >= GeneratorHealth.busyLimit {
            warnings.append(String(format: "generator CPU-bound: a loadtest thread used %.0f%% of a core (limit %.0f%%); add threads or machines",
                                   busiest * 100, GeneratorHealth.busyLimit * 100))
        }
    }

    /// The text summary's lines: one when it kept up, a WARNING line per problem otherwise.
    public var summary: String {
        let busy = cpu_busy.map { String(format: "%.0f%%", $0 * 100) }.joined(separator: " ")
        var line = "  Generator: " + (keptUp ? "kept up" : "did NOT keep up") + " (thread CPU \(busy)"
        if let lag = schedule_lag_ms { line += String(format: "; send lag p99 %.3fms, max %.3fms", lag.p99, lag.max) }
        line += ")\n"
        for warning in warnings { line += "  WARNING: \(warning)\n" }
        return line
    }

    /// Several machines' generators: every thread listed, the worse lag, every warning.
    func merged(with other: GeneratorHealth) -> GeneratorHealth {
        var out = self
        out.cpu_busy += other.cpu_busy
        if let theirs = other.schedule_lag_ms {
            out.schedule_lag_ms = schedule_lag_ms.map { Lag(p50: Swift.max($0.p50, theirs.p50), p99: Swift.max($0.p99, theirs.p99),
                                                            max: Swift.max($0.max, theirs.max)) } ?? theirs
        }
        for warning in other.warnings where !out.warnings.contains(warning) { out.warnings.append(warning) }
        return out
    }
}
