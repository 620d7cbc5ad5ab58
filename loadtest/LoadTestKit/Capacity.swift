#if canImport(Glibc)
import Glibc
#endif

/// Finds the highest arrival rate a deployment holds within an SLO, and says how sure it is.
///
/// A single short trial near the boundary is noise: the same rate holds once and fails the
/// next time. So the search is in two phases:
/// 1. Coarse: one open-loop trial per rate, doubling from the start rate while the SLO holds
///    (halving instead when the start rate itself fails).
/// 2. Near the boundary every rate gets `trialsPerRate` trials (a pause between, so one
///    trial's backlog does not leak into the next), and a rate holds only if it held in every
///    one. The last coarse rate that held is confirmed this way first (stepping down by halves
///    when it fails), then the interval is bisected until it is within `precision`.
///
/// The answer is a range, not a number: `low` is the highest rate that held in every trial,
/// `high` the lowest rate that failed in any. Capacity lies between them; a narrow range is a
/// confident answer, a wide one says the system is noisy at that load.
public enum CapacityPlanner {
    public struct Trial: Sendable {
        public let rate: Double
        /// 1-based, per rate.
        public let number: Int
        public let report: Report
        public let holds: Bool
        /// False when loadtest itself fell behind: the trial says nothing about the server.
        public var generatorKeptUp: Bool { report.generator?.keptUp ?? true }
    }

    public struct Result: Sendable {
        public var low: Double?
        public var high: Double?
        public var trials: [Trial]
        /// The last rate (rising) whose median p50 stayed within twice the lowest median p50.
        public var knee: Double?
        /// Whether loadtest itself fell behind in any trial.
        public var generatorLimited: Bool { trials.contains { !$0.generatorKeptUp } }
    }

    public static func search(base: RunPlan, slo: [Threshold], startRate: Double, maximumRate: Double,
                              precision: Double = 0.05, trialsPerRate: Int = 3, pauseSeconds: Double = 1,
                              maximumTrials: Int = 60, onTrial: (Trial) -> Void = { _ in }) throws -> Result {
        var trials: [Trial] = []
        func run(_ rate: Double) throws -> Bool {
            if !trials.isEmpty && pauseSeconds > 0 { usleep(UInt32(pauseSeconds * 1e6)) }
            var plan = base
            plan.rate = .constant(rate)
            plan.thresholds = slo
            let report = try LoadTest.run(plan)
            // A trial that could not carry its schedule fails even when its latencies are fine.
            // One whose generator fell behind is judged the same way but flagged: its
            // latencies include loadtest's own lateness, so it errs towards a lower capacity.
            let holds = slo.allSatisfy { $0.holds(for: report) } && report.rps >= rate * 0.9
            let trial = Trial(rate: rate, number: trials.filter { $0.rate == rate }.count + 1, report: report, holds: holds)
            trials.append(trial)
            onTrial(trial)
            return holds
        }
        /// Trials at `rate` until it has `trialsPerRate` of them or one fails.
        func confirm(_ rate: Double) throws -> Bool {
            while true {
                let done = trials.filter { $0.rate == rate }
                if done.contains(where: { !$0.holds }) { return false }
                if done.count >= trialsPerRate || trials.count >= maximumTrials { return done.count >= trialsPerRate }
                _ = try run(rate)
            }
        }
        // Coarse phase.
        var held: [Double] = []
        var bad: Double?
        var rate = startRate
        while trials.count < maximumTrials {
            if try run(rate) {
                held.append(rate)
                if rate >= maximumRate { break }
                rate = min(rate * 2, maximumRate)
            } else {
                bad = rate
                break
            }
        }
        // The start rate already failed: halve until a rate holds (down to 1/64 of it).
        if held.isEmpty, var lower = bad.map({ $0 / 2 }) {
            while lower >= startRate / 64, trials.count < maximumTrials {
                if try run(lower) { held.append(lower); break }
                bad = lower
                lower /= 2
            }
        }
        // Confirm the boundary's lower side, stepping down when it does not hold every time.
        var good: Double?
        while let candidate = held.popLast() {
            if try confirm(candidate) { good = candidate; break }
            bad = min(bad ?? candidate, candidate)
        }
        // Bisect, each midpoint with every trial.
        while let low = good, let high = bad, (high - low) / high > precision, trials.count < maximumTrials {
            let middle = ((low + high) / 2).rounded()
            if middle <= low || middle >= high { break }
            if try confirm(middle) { good = middle } else { bad = middle }
        }
        return summarize(trials, trialsPerRate: trialsPerRate)
    }

    /// The range from the trials themselves, whatever order they ran in.
    static func summarize(_ trials: [Trial], trialsPerRate: Int) -> Result {
        let rates = Set(trials.map(\.rate)).sorted()
        let high = rates.first { rate in trials.contains { $0.rate == rate && !$0.holds } }
        let low = rates.last { rate in
            let these = trials.filter { $0.rate == rate }
            return these.count >= trialsPerRate && these.allSatisfy(\.holds) && rate < (high ?? .infinity)
        }
        // The knee: where a rate's median p50 first passes twice the quietest rate's; the rate
        // before it. The p50, because queueing near saturation lifts the whole distribution,
        // while a sub-millisecond p99 on a shared machine moves by 5× between trials at the
        // same rate; and the median of a rate's trials, so one cold trial does not move it.
        func medianP50(_ rate: Double) -> Double {
            let values = trials.filter { $0.rate == rate }.map(\.report.latency_ms.p50).sorted()
            return values.isEmpty ? 0 : values[values.count / 2]
        }
        var knee: Double?
        let floor = rates.map(medianP50).min() ?? 0
        for rate in rates {
            if medianP50(rate) > 2 * floor + 0.01 { break }
            knee = rate
        }
        return Result(low: low, high: high, trials: trials, knee: knee)
    }
}
