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
        return (report(plan, workers, measureFrom: measureFrom, stoppedAt: stoppedAt), intervals, wallStart)
    }

    static func report(_ plan: RunPlan, _ workers: [Worker], measureFrom: UInt64, stoppedAt: UInt64) -> Report {
        var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
        var seconds: [Worker.SecondStats] = []
        var statuses: [Int: Int] = [:]
        var classes = Report.ErrorClasses()
        var requests = 0, warmup = 0
        var lastResponse: UInt64 = 0
        for worker in workers {
            histogram.add(worker.histogram)
            for (i, second) in worker.seconds.enumerated() {
                while seconds.count <= i { seconds.append(Worker.SecondStats()) }
                seconds[i].requests += second.requests
                seconds[i].errors += second.errors
                seconds[i].histogram.add(second.histogram)
            }
            for (k, v) in worker.statuses { statuses[k, default: 0] += v }
            classes.connect += worker.errors.connect
            classes.timeout += worker.errors.timeout
            classes.io += worker.errors.io
            classes.protocol_ += worker.errors.protocolErrors
            requests += worker.requests
            warmup += worker.warmupRequests
            lastResponse = max(lastResponse, worker.lastResponseNanoseconds)
        }
        for (status, count) in statuses {
            if (400..<500).contains(status) { classes.status_4xx += count }
            if status >= 500 { classes.status_5xx += count }
        }
        // Count mode ends when the last answer arrives; duration mode at the end of the window.
        let endAt = plan.requestCount == nil ? stoppedAt : max(lastResponse, measureFrom)
        let duration = max(1e-9, Double(endAt &- measureFrom) / 1e9)
        var report = Report(
            url: "http://\(plan.target.authority)\(plan.target.path)",
            mode: plan.rate == nil ? "closed" : "open", connections: plan.connections, threads: plan.threads,
            target_rate: plan.rate?.peakRate, requests: requests, errors: classes.total, duration_s: duration,
            rps: Double(requests) / duration, latency_ms: Report.latency(of: histogram), errors_by_class: classes,
            status: Dictionary(uniqueKeysWithValues: statuses.map { (String($0.key), $0.value) }),
            warmup_requests: warmup,
            timeseries: seconds.enumerated().map { i, s in
                Report.Second(t: i, requests: s.requests, errors: s.errors,
                              p99_ms: s.histogram.totalCount > 0 ? Double(s.histogram.valueAtPercentile(99)) / 1000 : 0)
            },
            thresholds: [:], histogram_us: histogram)
        for threshold in plan.thresholds { report.thresholds[threshold.text] = threshold.holds(for: report) }
        return report
    }

    static func resolve(_ target: Target) throws(LoadTestError) -> SocketAddress {
        try SocketAddress.target(host: target.host, port: target.port)
    }
}
