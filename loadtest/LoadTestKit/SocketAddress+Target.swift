import Glibc
import Net

extension SocketAddress {
    /// The target's address: the first of the host's addresses that accepts a connection, as
    /// wrk does ("localhost" may name ::1 and 127.0.0.1 while the server listens on only one).
    /// When none accepts, the first; the run then counts connect errors.
    static func target(host: String, port: Int) throws(LoadTestError) -> SocketAddress {
        let candidates: [SocketAddress]
        do {
            candidates = try SocketAddress.resolveAll(host: host, port: port)
        } catch {
            guard case .invalidAddress(let what) = error else { throw .invalid(error.description) }
            throw .invalid("cannot resolve \(what)")
        }
        return candidates.first { $0.acceptsConnection() } ?? candidates[0]
    }

    /// One blocking connect (2 s at most), closed at once.
    func acceptsConnection() -> Bool {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return connect(fd) == 0
    }
}
