import ArgumentParser
import Foundation
import LoadTestKit
import Net

/// `loadtest`: a load generator and capacity planner (closed loop like wrk, open loop with
/// coordinated-omission correction like wrk2).
@main
struct LoadTestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadtest",
        abstract: "HTTP load generation, latency percentiles without coordinated omission, and capacity planning.",
        version: RunInfo.version,
        subcommands: [Run.self, Capacity.self, Compare.self, Merge.self],
        defaultSubcommand: Run.self)
}

struct TargetOptions: ParsableArguments {
    @Option(help: "The URL to load (http://host:port/path); scenario paths are relative to it.") var url: String
    @Option(name: [.customShort("c"), .long], help: "Keep-alive connections in all.") var connections = 64
    @Option(name: [.customShort("t"), .long], help: "Threads (event loops); default: cores.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Requests in flight per connection (HTTP/1.1 pipelining).") var pipeline = 1
    @Option(help: "A request without an answer for this long counts as a timeout, e.g. 10s.") var timeout = "10s"
    @Option(help: "A scenario file (YAML or JSON): request mix, stages, thresholds.") var scenario: String?
    @Option(name: [.customShort("H"), .long], help: "An extra request header, 'Name: value' (repeatable).") var header: [String] = []
    @Option(help: "Request method when no scenario is given.") var method = "GET"
    @Option(help: "Request body when no scenario is given.") var body: String?
    @Flag(help: "https://: do not verify the server's certificate (self-signed test servers).") var insecure = false
    @Option(help: "https://: trust this CA file instead of the system's roots.") var cacert: String?

    /// `duration` nil: the scenario's stages when it has them, else 10 s.
    func plan(duration: Double?, warmup: Double, rate: Double?, requests: Int?, thresholds: [Threshold]) throws -> RunPlan {
        let target = try Target(url: url)
        var templates: [RequestTemplate]
        var schedule = rate.map { RateSchedule.constant($0) }
        var connectionStages: RateSchedule?
        var all = thresholds
        if let scenario {
            let parsed = try Scenario.load(path: scenario, target: target)
            templates = parsed.templates
            if schedule == nil { schedule = parsed.stages }
            if rate == nil { connectionStages = parsed.connectionStages }
            all += parsed.thresholds
        } else {
            var headers: [(String, String)] = []
            for h in header {
                guard let colon = h.firstIndex(of: ":") else { throw ValidationError("-H takes 'Name: value'") }
                headers.append((String(h[..<colon]), String(h[h.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
            }
            templates = [try RequestTemplate(method: method, path: target.path, headers: headers, body: body, weight: 1,
                                             authority: target.authority, baseDirectory: ".")]
        }
        guard let timeoutSeconds = DurationText.seconds(timeout), timeoutSeconds > 0 else { throw ValidationError("--timeout like 10s") }
        let staged = schedule?.totalSeconds != nil || connectionStages?.totalSeconds != nil
        let duration = duration ?? (staged || requests != nil ? 0 : 10)
        let tls = target.isTLS ? try TLSClientContext(verifyPeer: !insecure, caFile: cacert) : nil
        return try RunPlan(target: target, templates: templates, connections: connections, threads: min(threads, connections),
                           durationSeconds: duration, warmupSeconds: warmup, rate: schedule, requestCount: requests,
                           pipelineDepth: pipeline, timeoutSeconds: timeoutSeconds, thresholds: all, tls: tls,
                           connectionStages: connectionStages)
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run load against a URL and report throughput and latency.")

    @OptionGroup var target: TargetOptions
    @Option(name: [.customShort("d"), .long], help: "How long to measure, e.g. 10s (default: 10s, or the scenario's stages).") var duration: String?
    @Option(help: "Load before measuring starts (excluded from every figure), e.g. 2s.") var warmup = "0s"
    @Option(name: [.customShort("R"), .long], help: "Open loop: requests per second at a constant arrival rate.") var rate: Double?
    @Option(help: "Closed loop: stop after this many requests instead of after --duration.") var requests: Int?
    @Option(help: "A pass/fail condition, e.g. 'p99<20ms', 'errors<0.1%', 'rps>5000', or on one named request 'p99[search]<20ms' (repeatable).") var threshold: [String] = []
    @Option(help: "Write every figure as JSON here.") var json: String?
    @Option(help: "Write a self-contained HTML report here.") var html: String?
    @Flag(help: "Print the full percentile distribution.") var distribution = false
    @Option(name: .customLong("hdr-log"), help: "Write each second's histogram here in HdrHistogram's log format.") var hdrLog: String?
    @Flag(help: "Exit 2 when loadtest itself could not keep up (a thread near a full core, or sends behind schedule).") var strictGenerator = false

    func run() throws {
        let seconds = try duration.map { (text: String) throws -> Double in
            guard let seconds = DurationText.seconds(text) else { throw ValidationError("durations look like 10s, 500ms or 1m30s") }
            return seconds
        }
        guard let warm = DurationText.seconds(warmup) else { throw ValidationError("durations look like 10s, 500ms or 1m30s") }
        if let rate, !(rate > 0 && rate.isFinite) { throw ValidationError("--rate must be a positive number of requests per second") }
        if let requests, requests < 1 { throw ValidationError("--requests must be at least 1") }
        let thresholds = try threshold.flatMap { try Threshold.list($0) }
        let plan = try target.plan(duration: seconds, warmup: warm, rate: rate, requests: requests, thresholds: thresholds)
        let (report, intervals, startTime) = try LoadTest.runWithIntervals(plan, progress: true)
        if let hdrLog { try HdrLog.write(intervals: intervals, startTime: startTime, to: hdrLog) }
        print(report.text, terminator: "")
        if distribution { print(report.percentileDistribution, terminator: "") }
        if let json { try report.json().write(to: URL(fileURLWithPath: json)) }
        if let html { try Data(HTMLReport.render(report).utf8).write(to: URL(fileURLWithPath: html)) }
        if report.thresholds.values.contains(false) { throw ExitCode(1) }
        if strictGenerator, !(report.generator?.keptUp ?? true) { throw ExitCode(2) }
    }
}

struct Capacity: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Find the highest arrival rate that holds an SLO.")

    @OptionGroup var target: TargetOptions
    @Option(help: "The SLO, e.g. 'p99<50ms,errors<0.1%'.") var slo: String
    @Option(help: "The first rate tried (requests/s).") var startRate = 100.0
    @Option(help: "Never try above this rate.") var maxRate = 10_000_000.0
    @Option(help: "Each step's measured time, e.g. 10s (long enough to be stable).") var stepDuration = "10s"
    @Option(help: "Each step's warm-up, e.g. 2s.") var stepWarmup = "2s"
    @Option(help: "Stop bisecting when the bounds are within this fraction.") var precision = 0.05
    @Option(help: "Trials per rate near the boundary; a rate holds only if it holds in every one.") var trials = 3
    @Option(help: "Pause between trials, e.g. 2s (lets queues drain).") var pause = "1s"
    @Option(help: "Write the range and every trial as JSON here.") var json: String?
    @Option(help: "Write a self-contained HTML capacity report here.") var html: String?
    @Flag(help: "Exit 2 when loadtest itself fell behind in any trial.") var strictGenerator = false

    func run() throws {
        guard let seconds = DurationText.seconds(stepDuration), let warm = DurationText.seconds(stepWarmup) else { throw ValidationError("durations look like 10s") }
        guard let pauseSeconds = DurationText.seconds(pause) else { throw ValidationError("--pause like 2s") }
        guard trials >= 1, trials <= 20 else { throw ValidationError("--trials is 1–20") }
        guard startRate > 0, maxRate >= startRate else { throw ValidationError("--start-rate must be positive and at most --max-rate") }
        let objective = try Threshold.list(slo)
        guard !objective.isEmpty else { throw ValidationError("--slo needs at least one condition") }
        // The SLO goes through the plan so that a request it names is checked before any trial.
        let base = try target.plan(duration: seconds, warmup: warm, rate: startRate, requests: nil, thresholds: objective)
        let started = Date().timeIntervalSince1970
        print(CapacityReport.header)
        let result = try CapacityPlanner.search(base: base, slo: objective, startRate: startRate, maximumRate: maxRate,
                                                precision: precision, trialsPerRate: trials, pauseSeconds: pauseSeconds) { trial in
            print(CapacityReport.line(trial))
            fflush(nil)
        }
        let report = CapacityReport(slo: slo, objective: objective, result: result, url: target.url,
                                    run: RunInfo.current(startedAt: started))
        print(report.summary, terminator: "")
        if let json { try report.json().write(to: URL(fileURLWithPath: json)) }
        if let html { try Data(report.html().utf8).write(to: URL(fileURLWithPath: html)) }
        if result.low == nil { throw ExitCode(1) }
        if strictGenerator, result.trials.contains(where: { !$0.generatorKeptUp }) { throw ExitCode(2) }
    }
}

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare two --json reports: throughput, errors and percentiles, judged against each run's second-to-second spread.")

    @Argument(help: "The baseline report (loadtest run --json).") var base: String
    @Argument(help: "The report to compare with it.") var new: String
    @Option(help: "Write a self-contained HTML comparison here.") var html: String?

    func run() throws {
        let comparison = Comparison(base: try Report.load(base), new: try Report.load(new))
        print(comparison.text, terminator: "")
        if let html { try Data(comparison.html().utf8).write(to: URL(fileURLWithPath: html)) }
    }
}

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Combine --json reports of runs made at once on several machines.")

    @Argument(help: "Reports written by `loadtest run --json`, or interval logs by `--hdr-log` (*.hlog).") var reports: [String]
    @Option(help: "Write the merged report here.") var json: String?
    @Option(help: "Write a self-contained HTML report here.") var html: String?

    func run() throws {
        // JSON reports, or HdrHistogram interval logs (.hlog), of runs made at the same time.
        let merged = try Report.merge(try reports.map { $0.hasSuffix(".hlog") ? try Report.fromHdrLog($0) : try Report.load($0) })
        print(merged.text, terminator: "")
        if let json { try merged.json().write(to: URL(fileURLWithPath: json)) }
        if let html { try Data(HTMLReport.render(merged).utf8).write(to: URL(fileURLWithPath: html)) }
    }
}
