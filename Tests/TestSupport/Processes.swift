import Foundation

/// Runs a command, feeding `input`; returns (status, stdout, stderr).
@discardableResult
public func run(_ arguments: [String], input: String = "", timeout: Double = 20) throws -> (Int32, String, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = stderr
    try process.run()
    stdin.fileHandleForWriting.write(Data(input.utf8))
    try stdin.fileHandleForWriting.close()
    let out = stdout.fileHandleForReading.readDataToEndOfFile()
    let err = stderr.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
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
