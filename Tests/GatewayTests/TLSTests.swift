import Foundation
import Logging
import Testing
import TestSupport
@testable import Gateway
import Net
#if canImport(Glibc)
import Glibc
#endif


@Suite("TLS termination", .serialized)
final class TLSTests {
    let certificates: TestCertificates
    let gateway: GatewayServer

    init() throws {
        certificates = try TestCertificates()
        // The served files are copies, so the reload test can replace them.
        try FileManager.default.copyItem(atPath: certificates.path("a.pem"), toPath: certificates.path("served.pem"))
        try FileManager.default.copyItem(atPath: certificates.path("a.key"), toPath: certificates.path("served.key"))
        let c = certificates
        gateway = try startGateway { config in
            config.http.tlsPort = 0
            config.tlsCertificates = [c.path("served.pem"), c.path("b.pem")]
            config.tlsKeys = [c.path("served.key"), c.path("b.key")]
            config.tlsHandshakeTimeoutMs = 1000
            try! config.resolveTLS()
        }
    }

    deinit {
        gateway.stop()
        gateway.wait()
        try? FileManager.default.removeItem(atPath: certificates.directory)
    }

    var url: String { "https://127.0.0.1:\(gateway.tlsPort)/healthz" }

    func subject(serverName: String? = nil) throws -> String {
        var args = ["openssl", "s_client", "-connect", "127.0.0.1:\(gateway.tlsPort)"]
        if let serverName { args += ["-servername", serverName] }
        let (_, out, _) = try run(args)
        return out.split(separator: "\n").first { $0.hasPrefix("subject=") }.map(String.init) ?? ""
    }

    @Test func curlOverTLS13AndTLS12WithALPN() throws {
        let (s13, out13, err13) = try run(["curl", "-sk", "-v", "--tlsv1.3", "-i", url])
        #expect(s13 == 0)
        #expect(out13.contains("HTTP/1.1 200 OK") && out13.hasSuffix("ok"))
        #expect(out13.contains("Strict-Transport-Security: max-age=63072000"))
        #expect(err13.contains("TLSv1.3"))
        let (s12, _, err12) = try run(["curl", "-sk", "-v", "--tls-max", "1.2", url])
        #expect(s12 == 0)
        #expect(err12.contains("TLSv1.2"))
        #expect(err12.contains("ALPN: server accepted http/1.1"))
    }

    @Test func oldProtocolsAndH2OnlyAreRefused() throws {
        let script = """
        import ssl, socket, sys
        def attempt(**kw):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
            for k, v in kw.items(): setattr(ctx, k, v)
            try:
                with socket.create_connection(("127.0.0.1", int(sys.argv[1]))) as s, ctx.wrap_socket(s) as t:
                    return "ok " + t.version()
            except ssl.SSLError as e:
                return "refused " + e.reason
        ctx11 = {"minimum_version": ssl.TLSVersion.TLSv1, "maximum_version": ssl.TLSVersion.TLSv1_1}
        print(attempt(**ctx11))
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
        c.set_alpn_protocols(["h2"])
        try:
            with socket.create_connection(("127.0.0.1", int(sys.argv[1]))) as s, c.wrap_socket(s) as t:
                print("ok", t.selected_alpn_protocol())
        except ssl.SSLError as e:
            print("refused", e.reason)
        """
        let (_, out, err) = try run([python, "-c", script, String(gateway.tlsPort)])
        let lines = out.split(separator: "\n")
        #expect(lines.count == 2, "\(out) \(err)")
        #expect(lines.first?.hasPrefix("refused") == true, "TLS 1.1: \(out)")
        #expect(lines.last?.hasPrefix("refused") == true, "h2-only ALPN: \(out)")
        let metrics = gateway.renderMetrics()
        #expect(!metrics.contains("aiwriter_tls_handshake_failures_total{reason=\"protocol_version\"} 0"))
    }

    @Test func sessionsResumeOnTLS12AndTLS13() throws {
        for version in ["-tls1_2", "-tls1_3"] {
            let session = certificates.path("session\(version)")
            // Wait a moment before closing so the TLS 1.3 ticket arrives.
            try run(["sh", "-c", "(sleep 0.3; echo) | openssl s_client -connect 127.0.0.1:\(gateway.tlsPort) \(version) -sess_out \(session)"])
            let (_, out, _) = try run(["openssl", "s_client", "-connect", "127.0.0.1:\(gateway.tlsPort)", version, "-sess_in", session])
            #expect(out.contains("Reused,"), "\(version) did not resume")
        }
        // By session id (TLS 1.2 without tickets): the server-side session cache.
        let session = certificates.path("session-id")
        try run(["openssl", "s_client", "-connect", "127.0.0.1:\(gateway.tlsPort)", "-tls1_2", "-no_ticket", "-sess_out", session])
        let (_, out, _) = try run(["openssl", "s_client", "-connect", "127.0.0.1:\(gateway.tlsPort)", "-tls1_2", "-no_ticket", "-sess_in", session])
        #expect(out.contains("Reused,"), "session-id resumption")
        #expect(gateway.server.stats().tlsResumed >= 3)
    }

    @Test func sniPicksTheCertificate() throws {
        #expect(try subject(serverName: "b.test").contains("CN = b.test"))
        #expect(try subject(serverName: "a.test").contains("CN = a.test"))
        #expect(try subject(serverName: "unknown.test").contains("CN = a.test")) // the default
        #expect(try subject().contains("CN = a.test"))
    }

    @Test func garbageAndStalledHandshakesAreClosedWithoutHarm() throws {
        let garbage = try RawClient(port: gateway.tlsPort)
        garbage.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(garbage.waitForClose())
        // A record header promising a ClientHello that never comes: closed at the 1 s
        // handshake timeout, while another client is served meanwhile.
        let stalled = try RawClient(port: gateway.tlsPort, timeoutSeconds: 5)
        stalled.send([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])
        let (status, _, _) = try run(["curl", "-sk", url])
        #expect(status == 0)
        let start = Date()
        #expect(stalled.waitForClose())
        #expect(Date().timeIntervalSince(start) < 4)
        let stats = gateway.server.stats()
        #expect((stats.tlsFailures["not_tls"] ?? 0) >= 1)
        #expect((stats.tlsFailures["timeout"] ?? 0) >= 1)
    }

    @Test func keepAlivePipeliningAndStrictFramingOverTLS() throws {
        let script = """
        import ssl, socket, sys
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
        def connect():
            return ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))))
        def read_responses(t, n):
            data = b""
            count = 0
            while count < n:
                chunk = t.recv(65536)
                if not chunk: break
                data += chunk
                count = data.count(b"HTTP/1.1 ")
            return data
        t = connect()
        t.sendall(b"".join(b"GET /healthz?i=%d HTTP/1.1\\r\\nHost: x\\r\\nX-Request-Id: r%d\\r\\n\\r\\n" % (i, i) for i in range(10)))
        data = read_responses(t, 10)
        ids = [line.split(b": ")[1].decode() for line in data.split(b"\\r\\n") if line.startswith(b"X-Request-Id")]
        print("pipelined", data.count(b"HTTP/1.1 200 OK"), ",".join(ids))
        t.sendall(b"GET /healthz HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        print("again", read_responses(t, 1).count(b"200 OK"))
        for name, raw in [("smuggle", b"POST /healthz HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 3\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n0\\r\\n\\r\\n"),
                          ("fold", b"GET /healthz HTTP/1.1\\r\\nHost: x\\r\\nX: a\\r\\n b\\r\\n\\r\\n")]:
            t = connect()
            t.sendall(raw)
            d = read_responses(t, 1)
            try:
                closed = t.recv(100) == b""
            except (ssl.SSLError, OSError):
                closed = True
            print(name, d.split(b"\\r\\n")[0].decode(), "closed" if closed else "open")
        """
        let (status, out, err) = try run([python, "-c", script, String(gateway.tlsPort)])
        #expect(status == 0, "\(err)")
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines.count == 4, "\(out) \(err)")
        #expect(lines.first == "pipelined 10 " + (0..<10).map { "r\($0)" }.joined(separator: ","))
        #expect(lines.dropFirst().first == "again 1")
        #expect(lines.dropFirst(2).first == "smuggle HTTP/1.1 400 Bad Request closed")
        #expect(lines.last == "fold HTTP/1.1 400 Bad Request closed")
    }

    @Test func reloadServesTheNewCertificateAndKeepsOpenConnections() throws {
        let script = """
        import ssl, socket, sys, time
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
        t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))))
        t.sendall(b"GET /healthz HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"); print("before", b"200 OK" in t.recv(4096), flush=True)
        sys.stdin.readline()  # the test reloads meanwhile
        t.sendall(b"GET /healthz HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"); print("after", b"200 OK" in t.recv(4096), flush=True)
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script, String(gateway.tlsPort)]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        var text = ""
        let deadline = Date().addingTimeInterval(10)
        while !text.contains("before") && Date() < deadline {
            text += String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        }
        // A bad file is refused and the old certificate keeps serving.
        try "not a certificate".write(toFile: certificates.path("served.pem"), atomically: true, encoding: .utf8)
        #expect(throws: NetError.self) { try gateway.server.reloadTLS() }
        #expect(try subject().contains("CN = a.test"))
        // A good new pair is served to new connections.
        try FileManager.default.removeItem(atPath: certificates.path("served.pem"))
        try FileManager.default.removeItem(atPath: certificates.path("served.key"))
        try FileManager.default.copyItem(atPath: certificates.path("c.pem"), toPath: certificates.path("served.pem"))
        try FileManager.default.copyItem(atPath: certificates.path("c.key"), toPath: certificates.path("served.key"))
        try gateway.server.reloadTLS()
        usleep(100_000)
        #expect(try subject().contains("CN = c.test"))
        input.fileHandleForWriting.write(Data("go\n".utf8))
        process.waitUntilExit()
        text += String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text.contains("before True"))
        #expect(text.contains("after True"), "the open connection must survive the reload: \(text)")
    }

    @Test func plainListenerStillServesWithoutHSTS() throws {
        let r = try RawClient(port: gateway.port).roundTrip("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(r.status == 200)
        #expect(r.header("Strict-Transport-Security") == nil)
    }
}

@Suite("TLS redirect and configuration")
struct TLSRedirectTests {
    @Test func plainRequestsAreRedirectedWhenAsked() throws {
        let certificates = try TestCertificates()
        defer { try? FileManager.default.removeItem(atPath: certificates.directory) }
        let gateway = try startGateway { config in
            config.http.tlsPort = 0
            config.tlsCertificates = [certificates.path("a.pem")]
            config.tlsKeys = [certificates.path("a.key")]
            config.http.redirectPlainToTLS = true
            config.hstsMaxAgeSeconds = 0
            try! config.resolveTLS()
        }
        defer { gateway.stop(); gateway.wait() }
        let r = try RawClient(port: gateway.port).roundTrip("GET /v1/x?y=1 HTTP/1.1\r\nHost: example.test:8080\r\n\r\n")
        #expect(r.status == 308)
        #expect(r.header("Location") == "https://example.test:\(gateway.tlsPort)/v1/x?y=1")
        let (_, out, _) = try run(["curl", "-sk", "-i", "https://127.0.0.1:\(gateway.tlsPort)/healthz"])
        #expect(out.contains("200 OK") && !out.contains("Strict-Transport-Security"))
    }

    @Test func tlsOnlyServerHasNoPlainListener() throws {
        let certificates = try TestCertificates()
        defer { try? FileManager.default.removeItem(atPath: certificates.directory) }
        #expect(throws: ConfigurationLoader.ConfigurationError.self) {
            try ConfigurationLoader.load(file: nil, environment: [:], flags: ["plain-listener": "false"])
        }
        let gateway = try startGateway { config in
            config.http.tlsPort = 0
            config.http.plainListener = false
            config.tlsCertificates = [certificates.path("a.pem")]
            config.tlsKeys = [certificates.path("a.key")]
            try config.resolveTLS()
        }
        defer { gateway.stop(); gateway.wait() }
        #expect(gateway.port == 0)
        let (status, out, _) = try run(["curl", "-sk", "https://127.0.0.1:\(gateway.tlsPort)/healthz"])
        #expect(status == 0 && out == "ok")
    }

    @Test func mismatchedOrMissingFilesAreClearErrors() throws {
        let certificates = try TestCertificates()
        defer { try? FileManager.default.removeItem(atPath: certificates.directory) }
        #expect(throws: ConfigurationLoader.ConfigurationError.self) {
            try ConfigurationLoader.load(file: nil, environment: [:], flags: ["tls-cert": certificates.path("a.pem")])
        }
        var tls = TLSConfiguration()
        tls.certificates = [(certificates.path("a.pem"), certificates.path("b.key"))]
        #expect(throws: TLSError.self) { try TLSContext(configuration: tls) }
        tls.certificates = [("/nonexistent.pem", certificates.path("a.key"))]
        #expect(throws: TLSError.self) { try TLSContext(configuration: tls) }
    }
}
