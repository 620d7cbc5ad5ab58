#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 socket address, resolved once (listen addresses, load-test targets).
public struct SocketAddress: @unchecked Sendable {
    // @unchecked: plain bytes (a sockaddr_storage copy), never mutated after resolution.
    public var storage = sockaddr_storage()
    public var length: socklen_t = 0

    public var family: Int32 { Int32(storage.ss_family) }

    /// Every IPv4 and IPv6 address of `host` (a name, an IPv4 address, or an IPv6 address with
    /// or without brackets), in the resolver's order. Blocking: call it before loops run.
    public static func resolveAll(host: String, port: Int) throws(NetError) -> [SocketAddress] {
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(name, String(port), &hints, &result)
        guard rc == 0, let first = result else {
            throw .invalidAddress("\(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(result) }
        var addresses: [SocketAddress] = []
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            if current.pointee.ai_family == AF_INET || current.pointee.ai_family == AF_INET6 {
                var address = SocketAddress()
                withUnsafeMutableBytes(of: &address.storage) {
                    $0.copyMemory(from: UnsafeRawBufferPointer(start: current.pointee.ai_addr, count: Int(current.pointee.ai_addrlen)))
                }
                address.length = current.pointee.ai_addrlen
                addresses.append(address)
            }
            entry = current.pointee.ai_next
        }
        guard !addresses.isEmpty else { throw .invalidAddress("\(host): no IPv4 or IPv6 address") }
        return addresses
    }

    /// `connect(2)` on `fd` to this address.
    public func connect(_ fd: Int32) -> Int32 {
        var storage = storage
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
        }
    }

    /// Whether a blocking connect to this address succeeds within `timeoutSeconds` (the
    /// socket is closed at once): how a client picks the first of a name's addresses that
    /// has a server behind it.
    public func acceptsConnection(timeoutSeconds: Int = 2) -> Bool {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return connect(fd) == 0
    }
}
