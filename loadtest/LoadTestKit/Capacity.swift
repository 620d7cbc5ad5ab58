/// Finds the highest arrival rate a deployment holds within an SLO: an open-loop run at a
/// starting rate, doubling while the SLO holds, then bisection between the last rate that held
/// and the first that did not, until they are within `precision` of each other.
public enum CapacityPlanner {
    public struct Step: Sendable {
        public let rate: Double
        public let report: Report
        public let holds: Bool
    }

    public static func search(base: RunPlan, slo: [Threshold], startRate: Double, maximumRate: Double,
                              precision: Double = 0.05, maximumSteps: Int = 16,
                              onStep: (Step) -> Void = { _ in }) throws -> (best: Double?, steps: [Step]) {
        var steps: [Step] = []
        func attempt(_ rate: Double) throws -> Bool {
            var plan = base
            plan.rate = .constant(rate)
            plan.thresholds = slo
            let report = try LoadTest.run(plan)
            // A run that could not even issue its schedule (the generator fell behind) fails too.
            let holds = slo.allSatisfy { $0.holds(for: report) } && report.rps >= rate * 0.9
            let step = Step(rate: rate, report: report, holds: holds)
            steps.append(step)
            onStep(step)
            return holds
        }
        var good: Double? = nil
        var bad: Double? = nil
        var rate = startRate
        while steps.count < maximumSteps {
            if try attempt(rate) {
                good = rate
                if rate >= maximumRate { break }
                rate = min(rate * 2, maximumRate)
            } else {
                bad = rate
                break
            }
        }
        while let low = good, let high = bad, (high - low) / high > precision, steps.count < maximumSteps {
            let middle = (low + high) / 2
            if try attempt(middle) { good = middle } else { bad = middle }
        }
        return (good, steps)
    }
}
