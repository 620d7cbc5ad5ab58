import Foundation
import Testing
@testable import Gateway

@Suite("Configuration layering")
struct ConfigurationTests {
    func tempFile(_ text: String, ext: String = "json") throws -> String {
        let path = NSTemporaryDirectory() + "aiwriter-config-\(UUID().uuidString).\(ext)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func defaultsServeOneMachine() throws {
        let (c, entries) = try ConfigurationLoader.load(file: nil, environment: [:], flags: [:])
        #expect(c.http.port == 8080)
        #expect(c.http.limits.maxHeadBytes == 16 * 1024)
        #expect(c.http.limits.maxBodyBytes == 8 * 1024 * 1024)
        #expect(c.http.headerTimeoutMs == 10_000)
        #expect(c.http.idleTimeoutMs == 60_000)
        #expect(entries.allSatisfy { $0.source == .defaults })
    }

    @Test func fileThenEnvironmentThenFlags() throws {
        let file = try tempFile(#"{"port": 9001, "host": "0.0.0.0", "max-body-bytes": "1MiB", "access-log": true, "header-timeout": "5s"}"#)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let (c, entries) = try ConfigurationLoader.load(
            file: file,
            environment: ["AIWRITER_PORT": "9002", "AIWRITER_IDLE_TIMEOUT": "500ms", "AIWRITER_DRAIN_TIMEOUT": "1M30S"],
            flags: ["port": "9003"])
        #expect(c.http.port == 9003)
        #expect(c.http.host == "0.0.0.0")
        #expect(c.http.limits.maxBodyBytes == 1 << 20)
        #expect(c.accessLog)
        #expect(c.http.headerTimeoutMs == 5000)
        #expect(c.http.idleTimeoutMs == 500)
        #expect(c.drainTimeoutMs == 90_000)
        let sources = Dictionary(uniqueKeysWithValues: entries.map { ($0.key, $0.source) })
        #expect(sources["port"] == .flag)
        #expect(sources["idle-timeout"] == .environment)
        #expect(sources["host"] == .file)
        #expect(sources["loops"] == .defaults)
    }

    @Test func yamlFileWithListsAndTypes() throws {
        let file = try tempFile("""
        # a comment
        port: 9100
        host: 0.0.0.0
        access-log: true
        max-body-bytes: 2MiB
        tls-cert: [a.pem, b.pem]
        tls-key:
          - a.key
          - b.key
        """, ext: "yaml")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let (c, entries) = try ConfigurationLoader.load(file: file, environment: [:], flags: [:])
        #expect(c.http.port == 9100 && c.http.host == "0.0.0.0" && c.accessLog)
        #expect(c.http.limits.maxBodyBytes == 2 << 20)
        #expect(c.http.tls?.certificates.map(\.chain) == ["a.pem", "b.pem"])
        #expect(c.http.tls?.certificates.map(\.key) == ["a.key", "b.key"])
        #expect(entries.first { $0.key == "port" }?.source == .file)
        for bad in ["port: [", "- just\n- a list", "prot: 1", "port: {a: 1}"] {
            let path = try tempFile(bad, ext: "yml")
            defer { try? FileManager.default.removeItem(atPath: path) }
            #expect(throws: ConfigurationLoader.ConfigurationError.self, "\(bad)") {
                try ConfigurationLoader.load(file: path, environment: [:], flags: [:])
            }
        }
    }

    @Test func configFileFromEnvironment() throws {
        let file = try tempFile(#"{"loops": 3}"#)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let (c, _) = try ConfigurationLoader.load(file: nil, environment: ["AIWRITER_CONFIG": file], flags: [:])
        #expect(c.loops == 3)
    }

    @Test("bad input is an error naming the key", arguments: [
        (#"{"prot": 1}"#, "unknown configuration key 'prot'"),
        (#"{"port": 70000}"#, "port"),
        (#"{"port": "eighty"}"#, "port"),
        (#"{"max-body-bytes": "lots"}"#, "max-body-bytes"),
        (#"{"header-timeout": "-1s"}"#, "header-timeout"),
        (#"{"header-timeout": "100us"}"#, "header-timeout"),
        (#"{"drain-timeout": "2y"}"#, "drain-timeout"),
        (#"{"access-log": "maybe"}"#, "access-log"),
        (#"{"log-level": "loud"}"#, "log-level"),
        (#"{"port": [1]}"#, "port"),
        (#"[1, 2]"#, "JSON object"),
        (#"{"port": 1"#, "not valid JSON"),
    ])
    func badValues(_ text: String, _ mention: String) throws {
        let file = try tempFile(text)
        defer { try? FileManager.default.removeItem(atPath: file) }
        do {
            _ = try ConfigurationLoader.load(file: file, environment: [:], flags: [:])
            Issue.record("accepted \(text)")
        } catch let error as ConfigurationLoader.ConfigurationError {
            #expect(error.description.contains(mention), "\(error.description)")
        }
    }

    @Test func badEnvironmentValueNamesTheVariable() {
        #expect(throws: ConfigurationLoader.ConfigurationError.self) {
            try ConfigurationLoader.load(file: nil, environment: ["AIWRITER_LOOPS": "0"], flags: [:])
        }
    }

    @Test func missingFileIsAnError() {
        #expect(throws: ConfigurationLoader.ConfigurationError.self) {
            try ConfigurationLoader.load(file: "/nonexistent/aiwriter.json", environment: [:], flags: [:])
        }
    }
}
