import Foundation
import Net
#if canImport(Glibc)
import Glibc
#endif

/// An HTTP server on an ephemeral loopback port, running on its own loops for one test.
public final class TestServer: @unchecked Sendable {
    // @unchecked: immutable after init; the server itself is thread-safe to drive.
    public let group: EventLoopGroup
    public let server: HTTPServer
    public var port: Int { server.port }

    public init(loops: Int = 2, configure: (inout HTTPServerConfiguration) -> Void = { _ in }, handler: any HTTPHandler) throws {
        var configuration = HTTPServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configure(&configuration)
        group = try EventLoopGroup(loopCount: loops)
        server = HTTPServer(group: group, configuration: configuration, handler: handler)
        try server.start()
        group.start()
    }

    public func shutdown() {
        group.stop()
        group.join()
    }
}

/// Finds a built executable of this package next to the test bundle.
public func builtExecutable(_ name: String) -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, 4095)
    guard n > 0 else { return nil }
    var dir = URL(fileURLWithPath: String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = dir.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return nil
}

/// Runs a child process with captured standard error, so tests can drive the real binary.
public final class ChildProcess: @unchecked Sendable {
    // @unchecked: `stderrText` is guarded by `lock`.
    public let process = Process()
    let pipe = Pipe()
    let lock = NSLock()
    var stderrData = Data()
    var sawEOF = false

    public init(executable: String, arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        // Each child gets its own embedded database unless the test names one.
        env["AIWRITER_DATA_DIR"] = NSTemporaryDirectory() + "aiwriter-child-\(UUID().uuidString)"
        for (k, v) in environment { env[k] = v }
        process.environment = env
        // Both streams into one pipe: FileHandle.nullDevice here gets its descriptor closed
        // late by Foundation, which then closes whatever socket the test opened on that number.
        process.standardError = pipe
        process.standardOutput = pipe
        pipe.fileHandleForReading.readabilityHandler = { [lock] handle in
            let data = handle.availableData
            lock.lock()
            if data.isEmpty {
                self.sawEOF = true
                handle.readabilityHandler = nil
            }
            self.stderrData.append(data)
            lock.unlock()
        }
        try process.run()
        // Only the child may hold the write end, or EOF never arrives.
        try? pipe.fileHandleForWriting.close()
    }

    public var stderrText: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: stderrData, as: UTF8.self)
    }

    /// Waits until standard error contains `text`.
    public func waitFor(_ text: String, seconds: Double = 10) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if stderrText.contains(text) { return true }
            usleep(20_000)
        }
        return false
    }

    /// The port from the gateway's "listening" log line.
    public func listeningPort(seconds: Double = 10) -> Int? {
        guard waitFor("\"msg\":\"listening\"", seconds: seconds) else { return nil }
        for line in stderrText.split(separator: "\n") where line.contains("\"msg\":\"listening\"") {
            if let r = line.range(of: "\"port\":\"") {
                let rest = line[r.upperBound...]
                return Int(rest.prefix { $0.isNumber })
            }
        }
        return nil
    }

    public func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits for exit, and for everything the child wrote to arrive; nil if it has not
    /// exited in time.
    public func waitForExit(seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            // Foundation learns of the exit on a dispatch queue that a busy test runner can
            // starve for seconds; the kernel already knows (a zombie carries its status).
            let exited = !process.isRunning ? process.terminationStatus : zombieStatus()
            if let exited {
                // The last lines may still be in the pipe: wait (bounded) for its EOF.
                let drained = Date().addingTimeInterval(2)
                while Date() < drained {
                    lock.lock()
                    let done = sawEOF
                    lock.unlock()
                    if done { break }
                    usleep(10_000)
                }
                return exited
            }
            usleep(20_000)
        }
        return nil
    }

    /// The exit status of this child if it has exited but is not reaped yet, from field 52
    /// (`exit_code`, in waitpid's encoding) of /proc/PID/stat; nil while it runs. Same meaning
    /// as `terminationStatus`: the exit code, or the signal that ended it.
    func zombieStatus() -> Int32? {
        guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command name (which may hold spaces): state is field 3, exit_code field 52.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.first == "Z", fields.count >= 50, let code = Int32(fields[49].trimmingCharacters(in: .whitespacesAndNewlines)) else { return nil }
        let signal = code & 0x7f
        return signal == 0 ? (code >> 8) & 0xff : signal
    }

    deinit {
        if process.isRunning { process.terminate() }
    }
}
