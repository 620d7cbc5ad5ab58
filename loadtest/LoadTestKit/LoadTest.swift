import Dispatch
import Foundation
import Histogram
import Net
import CUV
#if canImport(Glibc)
import Glibc
#endif

/// Runs a plan: one loop per thread, the connections spread over them, and one merged report.
public enum LoadTest {
    public static func run(_ plan: RunPlan, progress: Bool = false) throws -> Report {
        try runWithIntervals(plan, progress: progress).report
    }

    /// The report, and each second's histogram (for `--hdr-log`).
    public static func runWithIntervals(_ plan: RunPlan, progress: Bool = false) throws -> (report: Report, intervals: [Histogram<UInt64>], startTime: Double) {
        let wallStart = Date().timeIntervalSince1970 + plan.warmupSeconds
        let address = try resolve(plan.target)
        let group = try EventLoopGroup(loopCount: plan.threads)
        group.start()
        defer {
            group.stop()
            group.join()
        }
        var workers: [Worker] = []
        for (i, loop) in group.loops.enumerated() {
            let connections = plan.connections / plan.threads + (i < plan.connections % plan.threads ? 1 : 0)
            let share = Double(connections) / Double(plan.connections)
            let limit = plan.requestCount.map { count in count / plan.threads + (i < count % plan.threads ? 1 : 0) }
            workers.append(Worker(loop: loop, plan: plan, address: address, connections: connections, rateShare: share,
                                  requestLimit: limit, seed: 0x5EED + UInt64(i)))
        }
        let start = EventLoop.monotonicNanoseconds + 5_000_000
        for worker in workers { worker.loop.execute { worker.start(at: start) } }
        let measureFrom = start + UInt64(plan.warmupSeconds * 1e9)
        let end = plan.requestCount == nil ? measureFrom + UInt64(plan.durationSeconds * 1e9) : UInt64.max
        let showProgress = progress && isatty(STDERR_FILENO) == 1
        var lastShown = 0
        var done = Array(repeating: false, count: workers.count)
        while EventLoop.monotonicNanoseconds < end {
            if plan.requestCount != nil {
                for (i, worker) in workers.enumerated() where !done[i] && worker.finished.wait(timeout: .now()) == .success {
                    done[i] = true
                }
                if !done.contains(false) { break }
            }
            usleep(20_000)
            let now = EventLoop.monotonicNanoseconds
            if showProgress, now > measureFrom, Int((now - measureFrom) / 1_000_000_000) > lastShown {
                lastShown = Int((now - measureFrom) / 1_000_000_000)
                FileHandle.standardError.write(Data("\r  \(lastShown)s elapsed of \(Int(plan.durationSeconds))s".utf8))
            }
        }
        let stoppedAt = min(EventLoop.monotonicNanoseconds, end)
        let grace = min(2.0, plan.timeoutSeconds)
        for worker in workers { worker.loop.execute { worker.stop(graceSeconds: grace) } }
        for (i, worker) in workers.enumerated() where !done[i] { worker.finished.wait() }
        if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        var intervals: [Histogram<UInt64>] = []
        for worker in workers {
            for (i, second) in worker.seconds.enumerated() {
                while intervals.count <= i { intervals.append(Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .two)) }
                intervals[i].add(second.histogram)
            }
        }
        var result = report(plan, workers, measureFrom: measureFrom, stoppedAt: stoppedAt)
        result.run = RunInfo.current(startedAt: wallStart - plan.warmupSeconds)
        return (result, intervals, wallStart)
    }

    static func report(_ plan: RunPlan, _ workers: [Worker], measureFrom: UInt64, stoppedAt: UInt64) -> Report {
        var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
        var seconds: [Worker.SecondStats] = []
        var statuses: [Int: Int] = [:]
        var failures = Worker.Errors()
        var requests = 0, warmup = 0
        var lastResponse: UInt64 = 0
        var perRequest = plan.requestNames.map { _ in RequestStats() }
        var scheduleLag = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .two)
        for worker in workers {
            histogram.add(worker.histogram)
            for (i, second) in worker.seconds.enumerated() {
                while seconds.count <= i { seconds.append(Worker.SecondStats()) }
                seconds[i].add(second)
            }
            for (k, v) in worker.statuses { statuses[k, default: 0] += v }
            failures.add(worker.errors)
            requests += worker.requests
            warmup += worker.warmupRequests
            lastResponse = max(lastResponse, worker.lastResponseNanoseconds)
            for (i, stats) in worker.perRequest.enumerated() { perRequest[i].add(stats) }
            scheduleLag.add(worker.scheduleLag)
        }
        let classes = Report.ErrorClasses(failures, statuses: statuses.map { ($0.key, $0.value) })
        // Count mode ends when the last answer arrives; duration mode at the end of the window.
        let endAt = plan.requestCount == nil ? stoppedAt : max(lastResponse, measureFrom)
        let duration = max(1e-9, Double(endAt &- measureFrom) / 1e9)
        let tail = Double(lastResponse > measureFrom ? lastResponse - measureFrom : 0) / 1e9
        let series = timeseries(seconds, window: duration, lastAnswer: tail, plan: plan)
        let names = plan.requestNames
        let breakdown: [Report.RequestFigures]? = names.count > 1
            ? names.indices.map { Report.RequestFigures(name: names[$0], stats: perRequest[$0], duration: duration) } : nil
        let cpu = workers.map { $0.wallNanoseconds > 0 ? Double($0.cpuNanoseconds) / Double($0.wallNanoseconds) : 0 }
        var report = Report(
            url: "\(plan.target.isTLS ? "https" : "http")://\(plan.target.authority)\(plan.target.path)",
            mode: plan.rate == nil ? "closed" : "open", connections: plan.connections, threads: plan.threads,
            target_rate: plan.rate?.peakRate, requests: requests, errors: classes.total, duration_s: duration,
            rps: Double(requests) / duration, latency_ms: Report.latency(of: histogram), errors_by_class: classes,
            status: Dictionary(uniqueKeysWithValues: statuses.map { (String($0.key), $0.value) }),
            warmup_requests: warmup, timeseries: series, thresholds: [:], histogram_us: histogram,
            per_request: breakdown,
            generator: GeneratorHealth(cpuBusy: cpu, scheduleLag: plan.rate == nil ? nil : scheduleLag))
        for threshold in plan.thresholds { report.thresholds[threshold.text] = threshold.holds(for: report) }
        return report
    }

    /// The per-second series over a `window`-second measurement. A last bucket shorter than a
    /// quarter second joins the one before it, and answers that arrived after the window (to
    /// requests sent inside it) count in the last bucket, whose length then runs to the last
    /// answer: every bucket's rate is its count over its real length.
    static func timeseries(_ seconds: [Worker.SecondStats], window: Double, lastAnswer: Double, plan: RunPlan) -> [Report.Second] {
        let buckets = max(1, Int((window - 0.25).rounded(.up)))
        var folded = Array(seconds.prefix(buckets))
        while folded.count < buckets { folded.append(Worker.SecondStats()) }
        for late in seconds.dropFirst(buckets) { folded[buckets - 1].add(late) }
        return folded.enumerated().map { i, s in
            let start = Double(i)
            let nominalEnd = i == buckets - 1 ? window : start + 1
            let end = i == buckets - 1 ? max(window, min(lastAnswer, window + plan.timeoutSeconds)) : nominalEnd
            func ms(_ p: Double) -> Double { s.histogram.totalCount > 0 ? Double(s.histogram.valueAtPercentile(p)) / 1000 : 0 }
            let failures = Report.ErrorClasses(s.failures, statuses: s.codes.map { ($0.status, $0.count) })
            let target = plan.rate.map { rate in
                (rate.expectedCount(at: plan.warmupSeconds + nominalEnd) - rate.expectedCount(at: plan.warmupSeconds + start))
                    / max(1e-9, nominalEnd - start)
            }
            return Report.Second(t: i, requests: s.requests, errors: s.errors, p99_ms: ms(99), length_s: max(1e-3, end - start),
                                 p50_ms: ms(50), p90_ms: ms(90), p999_ms: ms(99.9),
                                 max_ms: s.histogram.totalCount > 0 ? Double(s.histogram.max) / 1000 : 0, sent: s.sent,
                                 target_rps: target, errors_by_class: failures,
                                 status: Dictionary(uniqueKeysWithValues: s.codes.map { (String($0.status), $0.count) }))
        }
    }

    static func resolve(_ target: Target) throws(LoadTestError) -> SocketAddress {
        try SocketAddress.target(host: target.host, port: target.port)
    }
}
