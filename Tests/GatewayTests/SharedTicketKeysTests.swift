import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// TLS sessions resume across replicas that read one `tls-ticket-key-file`: two `aiwriter`
/// processes (each with its own memory, as replicas are), a ticket from one resumes on the
/// other, and a one-step rotation (append a key, drop the oldest) keeps tickets issued before it
/// resuming. Without the file each process has its own keys and they do not.
@Suite("Shared TLS ticket keys", .serialized)
struct SharedTicketKeysTests {
    static func key() -> String {
        (0..<80).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    static func start(_ database: String, _ certificates: TestCertificates, keyFile: String?) throws -> (ChildProcess, Int) {
        var args = ["--tls-cert", certificates.path("a.pem"), "--tls-key", certificates.path("a.key"), "--tls-port", "0"]
        if let keyFile { args += ["--tls-ticket-key-file", keyFile] }
        let (child, _) = try RateLimitTests.startGateway(database, args)
        for line in child.stderrText.split(separator: "\n") where line.contains("listening for TLS") {
            if let r = line.range(of: "\"tls_port\":\""), let port = Int(line[r.upperBound...].prefix { $0.isNumber }) { return (child, port) }
        }
        child.signal(SIGKILL)
        throw RawClient.Failure(description: "no TLS listening line: \(child.stderrText)")
    }

    /// Connects with `-sess_in` (when given) and saves the session it ends with to `out`; whether it resumed.
    static func connect(_ port: Int, sessionIn: String?, sessionOut: String) throws -> Bool {
        var command = "(sleep 0.3; echo) | openssl s_client -connect 127.0.0.1:\(port) -tls1_3 -sess_out \(sessionOut)"
        if let sessionIn { command += " -sess_in \(sessionIn)" }
        let (_, out, _) = try run(["sh", "-c", command])
        return out.contains("Reused,")
    }

    @Test("a ticket from one replica resumes on another; rotation keeps earlier tickets resuming; per-process keys do not")
    func resumeAcrossReplicas() throws {
        let certificates = try TestCertificates()
        defer { try? FileManager.default.removeItem(atPath: certificates.directory) }
        let database = try RateLimitTests.database()
        let file = certificates.path("tickets.keys")
        var keys = (0..<3).map { _ in Self.key() }
        try ("# oldest first\n" + keys.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)

        let (a, portA) = try Self.start(database, certificates, keyFile: file)
        defer { a.signal(SIGKILL) }
        let (b, portB) = try Self.start(database, certificates, keyFile: file)
        defer { b.signal(SIGKILL) }

        let s1 = certificates.path("s1"), s2 = certificates.path("s2"), s3 = certificates.path("s3"), s4 = certificates.path("s4")
        #expect(try !Self.connect(portA, sessionIn: nil, sessionOut: s1))
        #expect(try Self.connect(portB, sessionIn: s1, sessionOut: s2), "a ticket from replica A did not resume on replica B")
        #expect(try Self.connect(portA, sessionIn: s2, sessionOut: s3), "B's renewed ticket did not resume on A")

        // One-step rotation: a new key appended, the oldest dropped. The ticket in s3 was sealed
        // by the key that sealed before (now the oldest listed): still accepted on both.
        keys = Array(keys.dropFirst()) + [Self.key()]
        try (keys.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        Thread.sleep(forTimeInterval: 2.5)
        #expect(try Self.connect(portB, sessionIn: s3, sessionOut: s4), "a ticket from before the rotation was refused")

        // A file that does not parse is refused and logged; the keys in use stay.
        try "not a key\n".write(toFile: file, atomically: true, encoding: .utf8)
        Thread.sleep(forTimeInterval: 2.5)
        #expect(a.stderrText.contains("tls ticket key file refused"))
        #expect(try Self.connect(portA, sessionIn: s4, sessionOut: s1), "a refused file changed the keys in use")

        // Per-process keys (no file): a ticket from one process is not another's.
        let (c, portC) = try Self.start(database, certificates, keyFile: nil)
        defer { c.signal(SIGKILL) }
        let (d, portD) = try Self.start(database, certificates, keyFile: nil)
        defer { d.signal(SIGKILL) }
        #expect(try !Self.connect(portC, sessionIn: nil, sessionOut: s2))
        #expect(try !Self.connect(portD, sessionIn: s2, sessionOut: s3))
    }

    @Test("a key file that does not parse stops the start with a clear error")
    func badFileAtStart() throws {
        let certificates = try TestCertificates()
        defer { try? FileManager.default.removeItem(atPath: certificates.directory) }
        let file = certificates.path("bad.keys")
        try (String(repeating: "ab", count: 79) + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let child = try ChildProcess(executable: try RateLimitTests.binary(),
                                     arguments: ["serve", "--port", "0", "--data-dir", certificates.directory, "--tls-cert", certificates.path("a.pem"),
                                                 "--tls-key", certificates.path("a.key"), "--tls-port", "0", "--tls-ticket-key-file", file])
        let status = child.waitForExit(seconds: 15)
        #expect(status != nil && status != 0)
        #expect(child.stderrText.contains("ticket key file line 1: expected 160 hexadecimal digits"), "\(child.stderrText)")
    }
}
