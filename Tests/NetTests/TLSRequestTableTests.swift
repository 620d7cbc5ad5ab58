import Foundation
import Testing
import TestSupport
@testable import Net

/// The plain-TCP request table of HTTPServerTests, sent over TLS (Python's ssl module as the
/// client): framing, limits and keep-alive must behave the same on both listeners.
@Suite("HTTP request table over TLS")
struct TLSRequestTableTests {
    @Test func sameAnswersAsOverPlainTCP() throws {
        let certificates = try TestCertificates()
        defer { try? FileManager.default.removeItem(atPath: certificates.directory) }
        var tls = TLSConfiguration()
        tls.certificates = [(certificates.path("a.pem"), certificates.path("a.key"))]
        let server = try TestServer(configure: { c in
            c.tls = tls
            c.tlsPort = 0
            c.limits.maxHeadBytes = 4096
            c.limits.maxBodyBytes = 1024
        }, handler: EchoHandler())
        defer { server.shutdown() }
        let table = HTTPServerTests.table.map { ["name": $0.0, "request": Data($0.1.utf8).base64EncodedString()] }
        let script = """
        import base64, json, socket, ssl, sys
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
        def response(t):
            data = b""
            while b"\\r\\n\\r\\n" not in data:
                chunk = t.recv(65536)
                if not chunk: return data
                data += chunk
            head, _, rest = data.partition(b"\\r\\n\\r\\n")
            length = 0
            for line in head.split(b"\\r\\n"):
                if line.lower().startswith(b"content-length:"): length = int(line.split(b":")[1])
            while len(rest) < length:
                chunk = t.recv(65536)
                if not chunk: break
                rest += chunk
            return head
        out = []
        for case in json.loads(sys.stdin.read()):
            t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))))
            t.settimeout(3)
            t.sendall(base64.b64decode(case["request"]))
            head = response(t)
            status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.1 ") else 0
            try:
                t.sendall(b"GET /echo HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n")
                second = response(t)
                closed = not second.startswith(b"HTTP/1.1 200")
            except (ssl.SSLError, OSError):
                closed = True
            out.append({"name": case["name"], "status": status, "closed": closed})
        print(json.dumps(out))
        """
        let input = String(decoding: try JSONSerialization.data(withJSONObject: table), as: UTF8.self)
        let (status, out, err) = try run([python, "-c", script, String(server.server.tlsPort)], input: input)
        #expect(status == 0, "\(err)")
        let results = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]] ?? []
        #expect(results.count == HTTPServerTests.table.count)
        for (expected, got) in zip(HTTPServerTests.table, results) {
            #expect(got["status"] as? Int == expected.2, "\(expected.0) over TLS")
            #expect(got["closed"] as? Bool == expected.3, "\(expected.0) over TLS: close")
        }
    }
}
