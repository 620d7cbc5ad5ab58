import Net

/// Everything a run needs, fixed before it starts.
public struct RunPlan: Sendable {
    public var target: Target
    public var templates: [RequestTemplate]
    public var connections: Int
    public var threads: Int
    public var durationSeconds: Double
    public var warmupSeconds: Double
    /// Open loop when set: requests start on this schedule whatever the answers do.
    public var rate: RateSchedule?
    /// Closed loop: stop after this many requests instead of after the duration.
    public var requestCount: Int?
    public var pipelineDepth: Int
    public var timeoutSeconds: Double
    public var thresholds: [Threshold]
    /// For https:// targets.
    public var tls: TLSClientContext?
    /// Closed loop with stages: how many of the connections are active over time (the rest
    /// stay open but idle). nil: all of them, all the time.
    public var connectionStages: RateSchedule?
    let cumulativeWeights: [Int]
    /// The breakdown's names, first appearance first, and each template's position among them.
    public let requestNames: [String]
    let nameIndex: [Int]

    public init(target: Target, templates: [RequestTemplate], connections: Int, threads: Int, durationSeconds: Double,
                warmupSeconds: Double = 0, rate: RateSchedule? = nil, requestCount: Int? = nil, pipelineDepth: Int = 1,
                timeoutSeconds: Double = 10, thresholds: [Threshold] = [], tls: TLSClientContext? = nil,
                connectionStages: RateSchedule? = nil) throws(LoadTestError) {
        guard !templates.isEmpty else { throw .invalid("no requests to send") }
        guard connections >= 1, threads >= 1 else { throw .invalid("connections and threads must be at least 1") }
        guard connections >= threads else { throw .invalid("need at least one connection per thread (\(connections) < \(threads))") }
        guard pipelineDepth >= 1, pipelineDepth <= 1024 else { throw .invalid("pipeline depth must be 1–1024") }
        guard durationSeconds > 0 || requestCount != nil || rate?.totalSeconds != nil || connectionStages?.totalSeconds != nil else {
            throw .invalid("give a duration, a request count or stages")
        }
        self.target = target
        self.templates = templates
        self.connections = connections
        self.threads = threads
        self.durationSeconds = rate.map { max(durationSeconds, $0.totalSeconds ?? 0) } ?? durationSeconds
        self.warmupSeconds = warmupSeconds
        self.rate = rate
        self.requestCount = requestCount
        self.pipelineDepth = pipelineDepth
        self.timeoutSeconds = timeoutSeconds
        self.thresholds = thresholds
        if target.isTLS && tls == nil { throw .invalid("an https:// URL needs a TLS client context") }
        self.tls = tls
        if let connectionStages {
            guard rate == nil else { throw .invalid("stages ramp either the rate or the connections, not both") }
            self.durationSeconds = max(durationSeconds, connectionStages.totalSeconds ?? 0)
        }
        self.connectionStages = connectionStages
        var total = 0
        cumulativeWeights = templates.map { total += max(1, $0.weight); return total }
        var names: [String] = []
        nameIndex = templates.map { template in
            if let i = names.firstIndex(of: template.name) { return i }
            names.append(template.name)
            return names.count - 1
        }
        requestNames = names
        for threshold in thresholds {
            if let request = threshold.request, !names.contains(request) {
                throw .invalid("threshold '\(threshold.text)': no request is named '\(request)' (names: \(names.joined(separator: ", ")))")
            }
        }
    }

    /// A template chosen by weight, by position in `templates`.
    func pick(_ random: inout SplitMix64) -> Int {
        if templates.count == 1 { return 0 }
        let r = Int(random.next() % UInt64(cumulativeWeights.last!))
        return cumulativeWeights.firstIndex { r < $0 }!
    }
}

/// A piecewise-linear arrival rate: a constant `--rate`, or a scenario's stages (each ramps
/// linearly from the previous stage's rate to its own over its duration; a stage whose start
/// and end rates are equal holds).
public struct RateSchedule: Sendable, Equatable {
    struct Segment: Sendable, Equatable {
        var start: Double, end: Double, fromRate: Double, toRate: Double
        var count: Double { (fromRate + toRate) / 2 * (end - start) }
    }

    let segments: [Segment]
    /// nil: the last rate holds until the run's duration ends.
    public let totalSeconds: Double?

    public static func constant(_ rate: Double) -> RateSchedule {
        RateSchedule(segments: [Segment(start: 0, end: .infinity, fromRate: rate, toRate: rate)], totalSeconds: nil)
    }

    /// Stages as (duration in seconds, rate at the stage's end), starting from `initialRate`.
    public static func stages(_ stages: [(Double, Double)], initialRate: Double = 0) -> RateSchedule {
        var segments: [Segment] = []
        var t = 0.0, rate = initialRate
        for (duration, target) in stages {
            segments.append(Segment(start: t, end: t + duration, fromRate: rate, toRate: target))
            t += duration
            rate = target
        }
        return RateSchedule(segments: segments, totalSeconds: t)
    }

    /// Requests that should have started by `t` seconds.
    public func expectedCount(at t: Double) -> Double {
        var total = 0.0
        for s in segments {
            if t >= s.end { total += s.count; continue }
            guard t > s.start else { break }
            let dt = t - s.start
            let slope = s.end.isFinite ? (s.toRate - s.fromRate) / (s.end - s.start) : 0
            total += s.fromRate * dt + slope * dt * dt / 2
            break
        }
        return total
    }

    /// When request number `n` (0-based, fractional allowed) should start.
    public func time(ofRequest n: Double) -> Double {
        var remaining = n
        for s in segments {
            if s.end.isFinite && remaining >= s.count { remaining -= s.count; continue }
            let slope = s.end.isFinite ? (s.toRate - s.fromRate) / (s.end - s.start) : 0
            if abs(slope) < 1e-12 {
                return s.fromRate > 0 ? s.start + remaining / s.fromRate : s.end
            }
            // fromRate·dt + slope·dt²/2 = remaining
            let disc = s.fromRate * s.fromRate + 2 * slope * remaining
            return s.start + (-s.fromRate + max(0, disc).squareRoot()) / slope
        }
        return segments.last.map { $0.end } ?? 0
    }

    /// The schedule's value at `t` seconds (for a connection schedule: how many are active).
    public func value(at t: Double) -> Double {
        for s in segments where t < s.end {
            guard t >= s.start else { return s.fromRate }
            guard s.end.isFinite else { return s.fromRate }
            return s.fromRate + (s.toRate - s.fromRate) * (t - s.start) / (s.end - s.start)
        }
        return segments.last?.toRate ?? 0
    }

    /// The highest rate anywhere on the schedule.
    public var peakRate: Double { segments.map { max($0.fromRate, $0.toRate) }.max() ?? 0 }
}
