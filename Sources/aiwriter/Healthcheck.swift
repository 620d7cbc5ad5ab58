import ArgumentParser
import Gateway
#if canImport(Glibc)
import Glibc
#endif

/// `aiwriter healthcheck`: asks the running gateway (this configuration's host and port) for
/// `/livez`, or `/readyz` with `--ready`, and exits 0 on a 200 — what a container's
/// HEALTHCHECK or an orchestrator's exec probe runs, with no curl in the image.
struct Healthcheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exit 0 if the gateway on this configuration's port answers /livez (or /readyz) with 200.",
        discussion: ConfigurationOptions.discussionText)

    @OptionGroup var options: ConfigurationOptions
    @Flag(help: "Ask /readyz (ready to take traffic) instead of /livez (the process answers).")
    var ready = false
    @Option(help: "Seconds to wait for the answer.")
    var timeout: Int = 3

    func run() throws {
        let (configuration, _) = try options.load()
        guard configuration.http.plainListener else {
            print("healthcheck: plain-listener is false; probe the TLS port with an HTTPS client instead")
            throw ExitCode(2)
        }
        var host = configuration.http.host
        if host == "0.0.0.0" || host.isEmpty { host = "127.0.0.1" } else if host == "::" { host = "::1" }
        let path = ready ? "/readyz" : "/livez"
        switch Healthcheck.get(host: host, port: configuration.http.port, path: path, timeoutSeconds: max(1, timeout)) {
        case .success(let status) where status == 200:
            return
        case .success(let status):
            print("healthcheck: \(path) answered \(status)")
            throw ExitCode(1)
        case .failure(let message):
            print("healthcheck: \(host):\(configuration.http.port): \(message)")
            throw ExitCode(1)
        }
    }

    enum Outcome { case success(Int), failure(String) }

    /// One HTTP/1.1 GET over a blocking socket with send and receive timeouts; the status code.
    static func get(host: String, port: Int, path: String, timeoutSeconds: Int) -> Outcome {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else { return .failure("cannot resolve \(host)") }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return .failure("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var limit = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            return .failure("cannot connect: \(String(cString: strerror(errno)))")
        }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\nUser-Agent: aiwriter-healthcheck\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
            return .failure("cannot send: \(String(cString: strerror(errno)))")
        }
        var head: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while head.count < 12 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return .failure(n == 0 ? "closed before answering" : "no answer: \(String(cString: strerror(errno)))") }
            head += buffer.prefix(n)
        }
        // "HTTP/1.1 200 …"
        guard head.starts(with: Array("HTTP/1.".utf8)), let status = Int(String(decoding: head[9..<12], as: UTF8.self)) else {
            return .failure("not an HTTP answer")
        }
        return .success(status)
    }
}
