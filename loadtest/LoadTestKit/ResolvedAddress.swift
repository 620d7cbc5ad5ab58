import Glibc

/// The target's socket address, IPv4 or IPv6, resolved once before the run.
struct ResolvedAddress: @unchecked Sendable {
    // @unchecked: plain bytes (a sockaddr_storage copy), never mutated after resolution.
    var storage = sockaddr_storage()
    var length: socklen_t = 0

    var family: Int32 { Int32(storage.ss_family) }

    /// Resolves `host` (a name, an IPv4 address or a bracketed IPv6 literal) and keeps the first
    /// address that accepts a connection, as wrk does: "localhost" may name ::1 and 127.0.0.1
    /// while the server listens on only one of them. When none accepts, the first is kept and
    /// the run counts connect errors.
    static func resolve(host: String, port: Int) throws(LoadTestError) -> ResolvedAddress {
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(name, String(port), &hints, &result)
        guard rc == 0, let first = result else {
            throw .invalid("cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(result) }
        var candidates: [ResolvedAddress] = []
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            if current.pointee.ai_family == AF_INET || current.pointee.ai_family == AF_INET6 {
                var address = ResolvedAddress()
                withUnsafeMutableBytes(of: &address.storage) {
                    $0.copyMemory(from: UnsafeRawBufferPointer(start: current.pointee.ai_addr, count: Int(current.pointee.ai_addrlen)))
                }
                address.length = current.pointee.ai_addrlen
                candidates.append(address)
            }
            entry = current.pointee.ai_next
        }
        guard let fallback = candidates.first else { throw .invalid("cannot resolve \(host): no IPv4 or IPv6 address") }
        return candidates.first { $0.acceptsConnection() } ?? fallback
    }

    /// One blocking connect (bounded by the kernel's loopback/LAN behaviour), closed at once.
    func acceptsConnection() -> Bool {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return connect(to: fd) == 0
    }

    /// `connect(2)` on `fd` to this address.
    func connect(to fd: Int32) -> Int32 {
        var storage = storage
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
        }
    }
}
