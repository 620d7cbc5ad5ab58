/// Which peers may say who the client is. Behind a load balancer every connection comes from
/// the balancer, so per-address limits would lump all clients into one; the balancer appends
/// the address it saw to `X-Forwarded-For`. That header is believed only from peers listed
/// here, and only as far as the chain of listed proxies reaches: walking the list from the
/// right, the first address that is not a trusted proxy is the client (a client can write
/// anything to the left of what the proxies appended, so nothing further left counts).
public struct TrustedProxies: Sendable {
    /// An address block: `10.0.0.0/8`, `2001:db8::/32`, or one address.
    public struct Network: Sendable, CustomStringConvertible {
        public let address: IPAddress
        public let prefix: Int

        /// Parses `ADDRESS` or `ADDRESS/PREFIX`; nil when either part is malformed.
        public init?(_ text: Substring) {
            let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard let address = IPAddress(parts[0]) else { return nil }
            let width = address.isIPv4 ? 32 : 128
            var prefix = width
            if parts.count == 2 {
                guard let bits = Int(parts[1]), parts[1].allSatisfy(\.isASCIIDigit), (0...width).contains(bits) else { return nil }
                prefix = bits
            }
            self.address = address
            self.prefix = prefix
        }

        public func contains(_ candidate: IPAddress) -> Bool { candidate.matches(address, prefix: prefix) }

        public var description: String { "\(address)/\(prefix)" }
    }

    public let networks: [Network]

    public init(_ networks: [Network] = []) {
        self.networks = networks
    }

    /// Parses a comma-separated list; throws naming the first entry that is not an address or block.
    public init(parsing list: String) throws(InvalidEntry) {
        var networks: [Network] = []
        for entry in list.split(separator: ",") {
            let trimmed = entry.trimmingSpaces
            guard !trimmed.isEmpty else { continue }
            guard let network = Network(trimmed) else { throw InvalidEntry(entry: String(trimmed)) }
            networks.append(network)
        }
        self.networks = networks
    }

    public struct InvalidEntry: Error, CustomStringConvertible {
        public let entry: String
        public var description: String { "\"\(entry)\" is not an IP address or CIDR block (e.g. 10.0.0.0/8, 2001:db8::/32)" }
    }

    public var isEmpty: Bool { networks.isEmpty }

    public func isTrusted(_ address: IPAddress) -> Bool {
        networks.contains { $0.contains(address) }
    }

    /// The client's address for a connection from `peer` carrying these `X-Forwarded-For`
    /// values (every field, in order). An entry that is not an address stops the walk: the
    /// last address reached is the client, never the garbage.
    public func client(peer: IPAddress, forwardedFor values: [Substring]) -> IPAddress {
        guard !networks.isEmpty, isTrusted(peer), !values.isEmpty else { return peer }
        var client = peer
        for value in values.reversed() {
            for entry in value.split(separator: ",", omittingEmptySubsequences: false).reversed() {
                guard let hop = IPAddress(forwardedEntry: entry) else { return client }
                client = hop
                if !isTrusted(hop) { return client }
            }
        }
        return client
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return text
    }
}
