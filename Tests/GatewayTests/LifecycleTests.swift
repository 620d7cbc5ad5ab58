import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Graceful drain and the second-signal exit, on the real `aiwriter` binary.
@Suite("Lifecycle of the aiwriter process", .serialized)
struct LifecycleTests {
    func startBinary(_ extra: [String] = []) throws -> (ChildProcess, Int) {
        guard let binary = builtExecutable("aiwriter") else {
            throw RawClient.Failure(description: "aiwriter binary not built next to the tests (run swift build first)")
        }
        let child = try ChildProcess(executable: binary, arguments: ["serve", "--port", "0", "--loops", "2"] + extra)
        guard let port = child.listeningPort() else {
            throw RawClient.Failure(description: "no listening line: \(child.stderrText)")
        }
        return (child, port)
    }

    @Test func sigtermDrainsInFlightRequestsAndRefusesNewConnections() throws {
        let (child, port) = try startBinary(["--drain-timeout", "10s"])
        // An idle keep-alive connection and one with a request half received.
        let idle = try RawClient(port: port)
        #expect(try idle.roundTrip("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").status == 200)
        let busy = try RawClient(port: port)
        busy.send("GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n12345")
        usleep(100_000)

        child.signal(SIGTERM)
        #expect(child.waitFor("\"msg\":\"draining\""))
        usleep(200_000)
        // New connections are refused once the listeners are closed.
        #expect(throws: RawClient.Failure.self) { _ = try RawClient(port: port) }
        // The idle connection is closed.
        #expect(idle.waitForClose())
        // The in-flight request completes, with Connection: close.
        busy.send("67890")
        let response = try busy.readResponse()
        #expect(response.status == 200)
        #expect(response.header("Connection") == "close")
        #expect(child.waitForExit(seconds: 5) == 0)
        #expect(child.stderrText.contains("drained"))
    }

    @Test func drainDelayKeepsServingWhileReadinessSaysNo() throws {
        let (child, port) = try startBinary(["--drain-timeout", "10s", "--drain-delay", "1500ms"])
        let kept = try RawClient(port: port)
        #expect(try kept.roundTrip("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").status == 200)
        child.signal(SIGTERM)
        #expect(child.waitFor("drain delay"))
        // Inside the delay: new connections are still accepted, /readyz says 503 so a balancer
        // takes the replica out, and requests on a kept connection are still answered.
        let fresh = try RawClient(port: port)
        let ready = try fresh.roundTrip("GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(ready.status == 503)
        #expect(ready.header("Retry-After") != nil)
        #expect(try kept.roundTrip("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").status == 200)
        // After it: accepting stops, idle connections close, the process exits 0.
        #expect(kept.waitForClose())
        #expect(throws: RawClient.Failure.self) { _ = try RawClient(port: port) }
        #expect(child.waitForExit(seconds: 5) == 0)
    }

    @Test func secondSignalExitsAtOnce() throws {
        let (child, port) = try startBinary(["--drain-timeout", "60s"])
        let busy = try RawClient(port: port)
        busy.send("GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n1")
        usleep(100_000)
        child.signal(SIGTERM)
        #expect(child.waitFor("\"msg\":\"draining\""))
        #expect(child.waitForExit(seconds: 0.5) == nil, "must still be draining")
        child.signal(SIGINT)
        let status = child.waitForExit(seconds: 3)
        #expect(status == 1)
    }

    @Test func drainTimeoutBoundsTheWait() throws {
        let (child, port) = try startBinary(["--drain-timeout", "1s"])
        let busy = try RawClient(port: port)
        busy.send("GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n1")
        usleep(100_000)
        let start = Date()
        child.signal(SIGTERM)
        #expect(child.waitForExit(seconds: 5) == 0)
        // The 1 s drain timeout bounds the exit (generous margin for a loaded machine).
        #expect(Date().timeIntervalSince(start) < 4)
        #expect(child.stderrText.contains("drain timeout"))
    }

    @Test func badConfigurationExitsNonZeroWithAMessage() throws {
        guard let binary = builtExecutable("aiwriter") else { Issue.record("no binary"); return }
        let child = try ChildProcess(executable: binary, arguments: ["serve", "--port", "99999"])
        #expect(child.waitForExit(seconds: 10).map { $0 != 0 } == true)
    }
}

@Suite("Command line")
struct CommandLineTests {
    @Test func configPrintShowsValuesAndSources() throws {
        guard let binary = builtExecutable("aiwriter") else { Issue.record("no binary"); return }
        let child = try ChildProcess(executable: binary, arguments: ["config", "print", "--json", "--port", "9123"],
                                     environment: ["AIWRITER_MAX_BODY_BYTES": "1MiB"])
        #expect(child.waitForExit(seconds: 10) == 0)
        usleep(100_000)
        let object = try JSONSerialization.jsonObject(with: Data(child.stderrText.utf8)) as? [String: [String: String]]
        #expect(object?["port"]?["value"] == "9123")
        #expect(object?["port"]?["source"] == "flag")
        #expect(object?["max-body-bytes"]?["value"] == "1048576")
        #expect(object?["max-body-bytes"]?["source"] == "environment")
        #expect(object?["host"]?["source"] == "default")
    }

    @Test func accessLogWritesOneJSONLinePerRequest() throws {
        guard let binary = builtExecutable("aiwriter") else { Issue.record("no binary"); return }
        let child = try ChildProcess(executable: binary, arguments: ["serve", "--port", "0", "--loops", "1", "--access-log", "true"])
        guard let port = child.listeningPort() else { Issue.record("no port: \(child.stderrText)"); return }
        let client = try RawClient(port: port)
        #expect(try client.roundTrip("GET /healthz?x=1 HTTP/1.1\r\nHost: t\r\nX-Request-Id: trace-42\r\n\r\n").status == 200)
        #expect(child.waitFor("trace-42"))
        let line = child.stderrText.split(separator: "\n").first { $0.contains("trace-42") }.map(String.init) ?? ""
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        #expect(object?["msg"] as? String == "request")
        #expect(object?["path"] as? String == "/healthz")
        #expect(object?["status"] as? String == "200")
        #expect(object?["method"] as? String == "GET")
        child.signal(SIGTERM)
        #expect(child.waitForExit(seconds: 5) == 0, "\(child.stderrText.suffix(3000))")
    }
}
