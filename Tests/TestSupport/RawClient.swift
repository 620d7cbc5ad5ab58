import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A blocking TCP client for tests: sends exact bytes (malformed ones included) and reads
/// raw responses, so the server is exercised over a real socket the way a hostile or sloppy
/// client would.
public final class RawClient {
    public private(set) var fd: Int32

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    public init(port: Int, host: String = "127.0.0.1", timeoutSeconds: Int = 5) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            Glibc.close(fd)
            fd = -1
            throw Failure(description: "connect: errno \(e)")
        }
        setTimeout(seconds: timeoutSeconds)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    public func setTimeout(seconds: Int, microseconds: Int = 0) {
        var tv = timeval(tv_sec: seconds, tv_usec: microseconds)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends every byte; returns false if the peer reset the connection.
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    @discardableResult
    public func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    public func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    var buffer: [UInt8] = []
    public private(set) var sawEOF = false

    /// Reads more bytes into the buffer; false on EOF, error or timeout.
    func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 65536, 0) }
        if n <= 0 {
            if n == 0 { sawEOF = true }
            return false
        }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }

    /// Reads one response. `head` is true when it answers a HEAD request (no body follows).
    public func readResponse(head: Bool = false) throws -> HTTPTestResponse {
        while true {
            if let (response, used) = HTTPTestResponse.parse(buffer, head: head, eof: sawEOF) {
                buffer.removeFirst(used)
                return response
            }
            if sawEOF || !fill() {
                if let (response, used) = HTTPTestResponse.parse(buffer, head: head, eof: true) {
                    buffer.removeFirst(used)
                    return response
                }
                throw Failure(description: sawEOF ? "connection closed before a full response (\(buffer.count) bytes buffered)" : "timed out waiting for a response (\(buffer.count) bytes buffered)")
            }
        }
    }

    /// True if the server closes the connection (EOF or reset) within the read timeout and
    /// sends nothing more.
    public func waitForClose() -> Bool {
        while true {
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 4096, 0) }
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }

    /// One request, one response.
    public func roundTrip(_ request: String) throws -> HTTPTestResponse {
        guard send(request) else { throw Failure(description: "send failed") }
        return try readResponse(head: request.hasPrefix("HEAD "))
    }
}

/// A parsed response.
public struct HTTPTestResponse: CustomStringConvertible {
    public var version = ""
    public var status = 0
    public var headers: [(String, String)] = []
    public var body: [UInt8] = []

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
    public var description: String { "\(status) \(headers) \(bodyText)" }

    static func parse(_ bytes: [UInt8], head: Bool, eof: Bool) -> (HTTPTestResponse, Int)? {
        guard let end = find(bytes, [13, 10, 13, 10], from: 0) else { return nil }
        let headText = String(decoding: bytes[0..<end], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        var response = HTTPTestResponse()
        let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2)
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        response.version = String(statusLine[0])
        response.status = status
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            response.headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        var offset = end + 4
        if status < 200 || status == 204 || status == 304 || head {
            return (response, offset)
        }
        if let length = response.header("Content-Length").flatMap(Int.init) {
            guard bytes.count >= offset + length else { return nil }
            response.body = Array(bytes[offset..<offset + length])
            return (response, offset + length)
        }
        if response.header("Transfer-Encoding")?.lowercased() == "chunked" {
            var body: [UInt8] = []
            while true {
                guard let lineEnd = find(bytes, [13, 10], from: offset) else { return nil }
                guard let size = Int(String(decoding: bytes[offset..<lineEnd], as: UTF8.self), radix: 16) else { return nil }
                offset = lineEnd + 2
                if size == 0 {
                    guard bytes.count >= offset + 2 else { return nil }
                    response.body = body
                    return (response, offset + 2)
                }
                guard bytes.count >= offset + size + 2 else { return nil }
                body.append(contentsOf: bytes[offset..<offset + size])
                offset += size + 2
            }
        }
        // Delimited by close.
        guard eof else { return nil }
        response.body = Array(bytes[offset...])
        return (response, bytes.count)
    }

    static func find(_ haystack: [UInt8], _ needle: [UInt8], from: Int) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var i = from
        while i + needle.count <= haystack.count {
            if haystack[i] == needle[0] && Array(haystack[i..<i + needle.count]) == needle { return i }
            i += 1
        }
        return nil
    }
}

