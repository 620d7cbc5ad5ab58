import Foundation

/// Runs a command, feeding `input`; returns (status, stdout, stderr). Output goes through
/// temporary files rather than pipes, so a daemon the command leaves behind (pg_ctl's server)
/// cannot hold the streams open; the command is killed after `timeout` seconds.
@discardableResult
public func run(_ arguments: [String], input: String = "", timeout: Double = 20) throws -> (Int32, String, String) {
    let base = NSTemporaryDirectory() + "aiwriter-run-\(UUID().uuidString)"
    let paths = [base + ".in", base + ".out", base + ".err"]
    defer { for path in paths { unlink(path) } }
    guard FileManager.default.createFile(atPath: paths[0], contents: Data(input.utf8)) else {
        throw RawClient.Failure(description: "cannot write \(paths[0])")
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, paths[0], O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, paths[1], O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, paths[2], O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    let argv = (["/usr/bin/env"] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, "/usr/bin/env", &actions, nil, argv, environ)
    guard rc == 0 else { throw RawClient.Failure(description: "cannot run \(arguments[0]): \(String(cString: strerror(rc)))") }
    var status: Int32 = 0
    let deadline = Date().addingTimeInterval(timeout)
    while waitpid(pid, &status, WNOHANG) == 0 {
        if Date() > deadline {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
            throw RawClient.Failure(description: "\(arguments.joined(separator: " ")) did not finish in \(timeout) s")
        }
        usleep(10_000)
    }
    let exitStatus: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    let out = (try? String(contentsOfFile: paths[1], encoding: .utf8)) ?? ""
    let err = (try? String(contentsOfFile: paths[2], encoding: .utf8)) ?? ""
    return (exitStatus, out, err)
}

/// Self-signed certificates for a.test and b.test, made with the openssl CLI.
public struct TestCertificates {
    public let directory: String
    public init() throws {
        directory = NSTemporaryDirectory() + "aiwriter-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in ["a", "b", "c"] {
            let (status, _, err) = try run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                                            "-keyout", "\(directory)/\(name).key", "-out", "\(directory)/\(name).pem",
                                            "-subj", "/CN=\(name).test", "-addext", "subjectAltName=DNS:\(name).test,DNS:localhost,IP:127.0.0.1"])
            guard status == 0 else { throw RawClient.Failure(description: "openssl req failed: \(err)") }
        }
    }
    public func path(_ file: String) -> String { "\(directory)/\(file)" }
}


/// The system Python (Debian's, with its ssl module and packages).
public let python = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "python3"
