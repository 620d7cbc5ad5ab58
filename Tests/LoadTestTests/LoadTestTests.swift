import Foundation
import CZlib
import Histogram
@testable import LoadTestKit
import Net
import Synchronization
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A tiny HTTP server on its own threads that counts what it answers and, once, stalls the
/// answer to one request for a second: what coordinated omission hides. It answers
/// `GET /missing…` with 404 and anything else with 200; with `serviceMicros`, each answer
/// takes that long, one at a time, so its capacity is about 10⁶/serviceMicros requests/s
/// whatever the connections: a system with a known boundary for capacity searches.
final class StallingServer: @unchecked Sendable {
    // @unchecked: `count` and `stalled` are atomics, `serial` a Mutex; the listener is set up before threads start.
    let port: Int
    let listener: Int32
    let count = Atomic<Int>(0)
    let stallAt: Int
    let stalled = Atomic<Bool>(false)

    /// Answers `Connection: close` on every `closeEvery`-th response of a connection, then closes it.
    let closeEvery: Int?
    let serviceMicros: UInt32
    let serial = Mutex<Void>(())

    init(stallAt: Int = .max, closeEvery: Int? = nil, ipv6: Bool = false, serviceMicros: UInt32 = 0) throws {
        self.stallAt = stallAt
        self.closeEvery = closeEvery
        self.serviceMicros = serviceMicros
        let listener = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if ipv6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_addr = in6addr_loopback
            let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
            guard bound == 0 else {
                close(listener)
                throw RawClient.Failure(description: "no IPv6 loopback here")
            }
            listen(listener, 128)
            var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
            port = Int(UInt16(bigEndian: address.sin6_port))
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            listen(listener, 128)
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
            port = Int(UInt16(bigEndian: address.sin_port))
        }
        self.listener = listener
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// Whether this machine can listen on ::1 (containers often cannot).
    static var ipv6Available: Bool {
        let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_addr = in6addr_loopback
        return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } } == 0
    }

    func acceptLoop() {
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 { return }
            Thread.detachNewThread { [self] in serve(fd) }
        }
    }

    func serve(_ fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        var pending: [UInt8] = []
        let response = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)
        let last = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".utf8)
        let missing = Array("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".utf8)
        var answered = 0
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { close(fd); return }
            pending.append(contentsOf: buffer[0..<n])
            // Answer each complete request head (the load tests send no bodies here).
            while let end = pending.indices.dropLast(3).first(where: { pending[$0] == 13 && pending[$0 + 1] == 10 && pending[$0 + 2] == 13 && pending[$0 + 3] == 10 }) {
                let isMissing = pending.starts(with: Array("GET /missing".utf8))
                pending.removeFirst(end + 4)
                if serviceMicros > 0 { serial.withLock { _ in usleep(serviceMicros) } }
                let number = count.add(1, ordering: .relaxed).newValue
                if number == stallAt && !stalled.exchange(true, ordering: .relaxed) { usleep(1_000_000) }
                answered += 1
                if let closeEvery, answered % closeEvery == 0 {
                    _ = last.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                    close(fd)
                    return
                }
                _ = (isMissing ? missing : response).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            }
        }
    }

    deinit { close(listener) }
}

@Suite("loadtest", .serialized)
struct LoadTestTests {
    static func plan(port: Int, rate: Double? = nil, seconds: Double = 3, connections: Int = 1, threads: Int = 1,
                     depth: Int = 1, requests: Int? = nil) throws -> RunPlan {
        let target = try Target(url: "http://127.0.0.1:\(port)/x")
        let template = try RequestTemplate(method: "GET", path: "/x", headers: [], body: nil, weight: 1,
                                           authority: target.authority, baseDirectory: ".")
        return try RunPlan(target: target, templates: [template], connections: connections, threads: threads, durationSeconds: seconds,
                           rate: rate.map { .constant($0) }, requestCount: requests, pipelineDepth: depth)
    }

    @Test("open loop: a 1 s stall shows in p99 and max (coordinated omission corrected)")
    func openLoopSeesTheStall() throws {
        let server = try StallingServer(stallAt: 100)
        let report = try LoadTest.run(try Self.plan(port: server.port, rate: 200))
        // ~200 requests were due during the stall: each waited up to a second past its start.
        #expect(report.latency_ms.max >= 900, "max \(report.latency_ms.max)")
        #expect(report.latency_ms.p99 >= 500, "p99 \(report.latency_ms.p99)")
        #expect(report.latency_ms.p90 >= 100, "p90 \(report.latency_ms.p90): a fifth of the requests were delayed")
        #expect(report.requests == server.count.load(ordering: .relaxed), "the counts agree exactly")
        #expect(abs(report.rps - 200) < 20, "the schedule was kept: \(report.rps)")
    }

    @Test("closed loop: the same stall is one slow request; it does not dominate")
    func closedLoopHidesTheStall() throws {
        let server = try StallingServer(stallAt: 100)
        let report = try LoadTest.run(try Self.plan(port: server.port))
        #expect(report.latency_ms.max >= 900, "max \(report.latency_ms.max)")
        #expect(report.latency_ms.p99 < 100, "p99 \(report.latency_ms.p99)")
        #expect(report.requests == server.count.load(ordering: .relaxed), "the counts agree exactly: \(report.requests)")
        #expect(report.warmup_requests == 0)
        #expect(report.errors == 0)
    }

    @Test("request counts match the server's across threads, connections and pipelining")
    func exactCounts() throws {
        let server = try StallingServer(stallAt: Int.max)
        let report = try LoadTest.run(try Self.plan(port: server.port, seconds: 1, connections: 8, threads: 2, depth: 4))
        #expect(report.requests > 100)
        #expect(report.requests == server.count.load(ordering: .relaxed))
        let counted = try Self.plan(port: server.port, seconds: 0, connections: 4, threads: 2, requests: 1000)
        let before = server.count.load(ordering: .relaxed)
        let exact = try LoadTest.run(counted)
        #expect(exact.requests == 1000 && server.count.load(ordering: .relaxed) - before == 1000)
    }

    @Test("merging two runs equals one histogram over the same samples")
    func mergeIsExact() throws {
        var all = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
        var parts = [all, all]
        var random = SplitMix64(seed: 7)
        for i in 0..<20_000 {
            let value = 50 + random.next() % 200_000
            _ = all.record(value)
            _ = parts[i % 2].record(value)
        }
        func report(_ h: Histogram<UInt64>, _ requests: Int) -> Report {
            Report(url: "u", mode: "closed", connections: 1, threads: 1, target_rate: nil, requests: requests, errors: 0,
                   duration_s: 10, rps: Double(requests) / 10, latency_ms: Report.latency(of: h), errors_by_class: .init(),
                   status: ["200": requests], warmup_requests: 0, timeseries: [], thresholds: [:], histogram_us: h)
        }
        // Through JSON, as `loadtest merge` reads them.
        let a = try JSONDecoder().decode(Report.self, from: try report(parts[0], 10_000).json())
        let b = try JSONDecoder().decode(Report.self, from: try report(parts[1], 10_000).json())
        let merged = try Report.merge([a, b])
        let single = report(all, 20_000)
        #expect(merged.latency_ms == single.latency_ms)
        #expect(merged.histogram_us.totalCount == 20_000 && merged.requests == 20_000 && merged.rps == 2000)
        #expect(merged.status["200"] == 20_000)
    }

    @Test("thresholds decide the exit code")
    func thresholdsExitCode() throws {
        let server = try StallingServer(stallAt: Int.max)
        let binary = try #require(builtExecutable("loadtest"))
        let url = "http://127.0.0.1:\(server.port)/"
        let (pass, out, _) = try run([binary, "run", "--url", url, "-c", "2", "-t", "1", "-d", "1s", "--threshold", "p99<10s", "--threshold", "errors<1%"])
        #expect(pass == 0, "\(out)")
        let (fail, failOut, _) = try run([binary, "run", "--url", url, "-c", "2", "-t", "1", "-d", "1s", "--threshold", "p50<1us"])
        #expect(fail == 1 && failOut.contains("FAILED"), "\(failOut)")
        let json = NSTemporaryDirectory() + "lt-\(UUID().uuidString).json"
        let (status, _, _) = try run([binary, "run", "--url", url, "-c", "2", "-t", "1", "-d", "1s", "--json", json])
        #expect(status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
        for key in ["requests", "errors", "duration_s", "rps", "latency_ms"] { #expect(object?[key] != nil, "\(key)") }
        let latency = object?["latency_ms"] as? [String: Any]
        for key in ["p50", "p90", "p99", "p999", "max"] { #expect(latency?[key] != nil, "\(key)") }
    }

    @Test("durations: units, compounds and bare seconds; nothing negative, infinite or unknown")
    func durations() {
        #expect(DurationText.seconds("10s") == 10 && DurationText.seconds("500ms") == 0.5 && DurationText.seconds("2m") == 120)
        #expect(DurationText.seconds("1h") == 3600 && DurationText.seconds("1m30s") == 90 && DurationText.seconds(" 1.5 ") == 1.5)
        #expect(DurationText.seconds("250us") == 0.00025 && DurationText.seconds("1h2m3s") == 3723)
        for bad in ["", "-1s", "-1", "inf", "nan", "1x", "s", "1s2", "1.2.3s", "1 s", "1e999s", "١s"] {
            #expect(DurationText.seconds(bad) == nil, "\(bad)")
        }
    }

    @Test("scenario errors point at their line")
    func scenarioErrors() throws {
        let target = try Target(url: "http://127.0.0.1:9/")
        let good = """
            requests:
              - url: /healthz
                weight: 3
              - method: POST
                url: /v1/echo
                headers: {Content-Type: application/json}
                body: '{"n": {{int:1:10}}, "id": "{{seq}}", "pick": "{{choice:a|b}}"}'
            stages:
              - {duration: 2s, rate: 100}
              - {duration: 3s, rate: 100}
            thresholds: ["p99<20ms", "errors<0.1%"]
            """
        let scenario = try Scenario.parse(good, name: "good.yaml", target: target, baseDirectory: ".")
        #expect(scenario.templates.count == 2 && scenario.thresholds.count == 2)
        #expect(scenario.stages?.totalSeconds == 5)
        #expect(abs((scenario.stages?.expectedCount(at: 5) ?? 0) - 400) < 1e-6, "ramp 0→100 over 2 s (100) + 3 s at 100 (300)")
        var random = SplitMix64(seed: 1)
        var sequence = 0
        let body = String(decoding: scenario.templates[1].render(&random, &sequence), as: UTF8.self)
        #expect(body.hasPrefix("POST /v1/echo HTTP/1.1\r\nHost: 127.0.0.1:9\r\n") && body.contains("\"id\": \"1\""))

        let cases: [(String, String)] = [
            ("requests:\n  - url: /a\n    wieght: 2\n", "bad.yaml:3"),
            ("requests:\n  - url: /a\n  - method: FETCH\n    url: /b\n", "bad.yaml:3"),
            ("requests:\n  - url: /a\n    body: '{{nope}}'\n", "bad.yaml:2"),
            ("requests:\n  - url: /a\nthresholds: [\"p99<<3\"]\n", "bad.yaml:3"),
            ("requests: [\n", "bad.yaml"),
        ]
        for (text, location) in cases {
            do {
                _ = try Scenario.parse(text, name: "bad.yaml", target: target, baseDirectory: ".")
                Issue.record("accepted: \(text)")
            } catch {
                #expect(error.description.contains(location), "\(error) should name \(location)")
            }
        }
    }
}

@Suite("HdrHistogram log")
struct HdrLogTests {
    /// Decodes one compressed V2 histogram back to its counts, the way HdrHistogram's readers do.
    static func decode(_ base64: String) throws -> (digits: Int, counts: [Int64]) {
        let bytes = try #require(Data(base64Encoded: base64)).map { $0 }
        func be32(_ at: Int, _ b: [UInt8]) -> UInt32 { b[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) } }
        #expect(be32(0, bytes) == 0x1c84_9314)
        let compressedLength = Int(be32(4, bytes))
        var plain = [UInt8](repeating: 0, count: 1 << 22)
        var plainLength = uLong(plain.count)
        let rc = uncompress(&plain, &plainLength, Array(bytes[8..<8 + compressedLength]), uLong(compressedLength))
        #expect(rc == Z_OK)
        plain = Array(plain.prefix(Int(plainLength)))
        #expect(be32(0, plain) == 0x1c84_9313)
        let payloadLength = Int(be32(4, plain))
        let digits = Int(be32(12, plain))
        var counts: [Int64] = []
        var i = 40
        while i < 40 + payloadLength {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            for k in 0..<9 {
                let byte = plain[i]
                i += 1
                if k == 8 { value |= UInt64(byte) << 56; break }
                value |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { break }
                shift += 7
            }
            let decoded = Int64(bitPattern: (value >> 1) ^ (0 &- (value & 1)))
            if decoded < 0 { counts += Array(repeating: 0, count: Int(-decoded)) } else { counts.append(decoded) }
        }
        return (digits, counts)
    }

    @Test("intervals encode to HdrHistogram's compressed V2 form and decode to the same counts")
    func roundTrip() throws {
        var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .two)
        var random = SplitMix64(seed: 3)
        for _ in 0..<5000 { _ = histogram.record(1 + random.next() % 50_000) }
        _ = histogram.record(2_000_000)
        let (digits, counts) = try Self.decode(try HdrLog.encode(histogram))
        #expect(digits == 2)
        let expected = try HdrLog.countsArray(histogram)
        #expect(counts.map { UInt64($0) } == expected)
        #expect(counts.reduce(0, +) == 5001)
        let path = NSTemporaryDirectory() + "lt-\(UUID().uuidString).hlog"
        try HdrLog.write(intervals: [histogram, histogram], startTime: 1_700_000_000, to: path)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 5 && lines[0] == "#[Histogram log format version 1.3]")
        #expect(lines[3].hasPrefix("0.000,1.000,20") && lines[3].contains(",HISTF") && lines[4].hasPrefix("1.000,1.000,"))
        // Read back (as `loadtest merge run.hlog …` does): the same counts and percentiles.
        let back = try HdrLog.read(path)
        #expect(back.count == 2 && back[1].start == 1)
        #expect(back[0].histogram.totalCount == 5001)
        #expect(try HdrLog.countsArray(back[0].histogram) == expected)
        let merged = try Report.fromHdrLog(path)
        #expect(merged.requests == 10_002 && merged.duration_s == 2)
        #expect(merged.latency_ms.p99 == Report.latency(of: histogram).p99)
    }
}

@Suite("loadtest over TLS")
struct LoadTestTLSTests {
    @Test("https:// through Net's TLS layer against the real gateway: verified with the CA, refused without it")
    func https() throws {
        let certificates = try TestCertificates()
        let binary = try #require(builtExecutable("aiwriter"))
        let gateway = try ChildProcess(executable: binary, arguments: [
            "serve", "--port", "0", "--tls-port", "0", "--loops", "1",
            "--tls-cert", certificates.path("a.pem"), "--tls-key", certificates.path("a.key")])
        defer { gateway.signal(SIGKILL) }
        #expect(gateway.waitFor("\"tls_port\":\"", seconds: 20))
        let line = try #require(gateway.stderrText.split(separator: "\n").first { $0.contains("\"tls_port\":\"") })
        let tlsPort = try #require(Int(line.components(separatedBy: "\"tls_port\":\"")[1].prefix { $0.isNumber }))
        let target = try Target(url: "https://127.0.0.1:\(tlsPort)/healthz")
        let template = try RequestTemplate(method: "GET", path: "/healthz", headers: [], body: nil, weight: 1,
                                           authority: target.authority, baseDirectory: ".")
        let trusted = try TLSClientContext(verifyPeer: true, caFile: certificates.path("a.pem"))
        let plan = try RunPlan(target: target, templates: [template], connections: 4, threads: 1, durationSeconds: 0,
                               requestCount: 500, tls: trusted)
        let report = try LoadTest.run(plan)
        #expect(report.requests == 500 && report.status["200"] == 500 && report.errors == 0)

        // Without the CA the handshake fails verification: connect errors, no responses.
        let untrusted = try TLSClientContext(verifyPeer: true, caFile: certificates.path("b.pem"))
        let refused = try LoadTest.run(try RunPlan(target: target, templates: [template], connections: 1, threads: 1,
                                                   durationSeconds: 0.5, tls: untrusted))
        #expect(refused.requests == 0 && refused.errors_by_class.connect > 0)
    }
}

@Suite("loadtest stages")
struct LoadTestStageTests {
    @Test("a server that closes with Connection: close costs a reconnect, not an error")
    func connectionCloseIsNotAnError() throws {
        let server = try StallingServer(stallAt: Int.max, closeEvery: 50)
        let report = try LoadTest.run(try LoadTestTests.plan(port: server.port, seconds: 1, connections: 4, threads: 1))
        #expect(report.errors == 0, "\(report.errors_by_class)")
        #expect(report.requests > 200, "several connections' worth of closes")
        #expect(report.requests == server.count.load(ordering: .relaxed))
    }

    @Test("an IPv6 literal URL reaches a server on ::1", .enabled(if: StallingServer.ipv6Available))
    func ipv6Target() throws {
        let server = try StallingServer(stallAt: Int.max, ipv6: true)
        let target = try Target(url: "http://[::1]:\(server.port)/x")
        #expect(target.host == "[::1]" && target.port == server.port && target.authority == "[::1]:\(server.port)")
        let template = try RequestTemplate(method: "GET", path: "/x", headers: [], body: nil, weight: 1,
                                           authority: target.authority, baseDirectory: ".")
        let plan = try RunPlan(target: target, templates: [template], connections: 2, threads: 1, durationSeconds: 0.5)
        let report = try LoadTest.run(plan)
        #expect(report.errors == 0 && report.requests > 0)
        #expect(report.requests == server.count.load(ordering: .relaxed))
    }

    @Test("a name that does not resolve is refused before the run, naming it")
    func unresolvableHost() throws {
        let target = try Target(url: "http://no-such-host.invalid:8080/")
        let template = try RequestTemplate(method: "GET", path: "/", headers: [], body: nil, weight: 1,
                                           authority: target.authority, baseDirectory: ".")
        let plan = try RunPlan(target: target, templates: [template], connections: 1, threads: 1, durationSeconds: 0.2)
        #expect { _ = try LoadTest.run(plan) } throws: { "\($0)".contains("no-such-host.invalid") }
    }

    @Test("connection stages ramp a closed loop up: the second second carries more than the first")
    func connectionRamp() throws {
        let server = try StallingServer(stallAt: Int.max)
        let target = try Target(url: "http://127.0.0.1:\(server.port)/")
        let scenario = try Scenario.parse("""
            requests:
              - url: /
            stages:
              - {duration: 1s, connections: 1}
              - {duration: 1s, connections: 8}
            """, name: "ramp.yaml", target: target, baseDirectory: ".")
        let stages = try #require(scenario.connectionStages)
        #expect(scenario.stages == nil && stages.value(at: 0.5) == 0.5 && stages.value(at: 1.5) == 4.5)
        let plan = try RunPlan(target: target, templates: scenario.templates, connections: 8, threads: 1, durationSeconds: 0,
                               connectionStages: stages)
        let report = try LoadTest.run(plan)
        #expect(report.duration_s >= 2)
        #expect(report.timeseries.count >= 2)
        #expect(report.timeseries[1].requests > report.timeseries[0].requests, "\(report.timeseries.map(\.requests))")
        #expect(report.requests == server.count.load(ordering: .relaxed))
        #expect(throws: LoadTestError.self) {
            _ = try Scenario.parse("requests:\n  - url: /\nstages:\n  - {duration: 1s, rate: 5}\n  - {duration: 1s, connections: 2}\n",
                                   name: "mixed.yaml", target: target, baseDirectory: ".")
        }
    }
}
