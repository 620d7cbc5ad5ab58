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
}
