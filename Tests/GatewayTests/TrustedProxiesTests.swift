import Gateway
import Testing

/// The client-address rules behind load balancers: who may vouch for whom, and what a
/// client can forge.
@Suite("Trusted proxies and X-Forwarded-For")
struct TrustedProxiesTests {
    static func ip(_ text: String) -> IPAddress { IPAddress(text)! }

    @Test("addresses compare by value, not by spelling")
    func canonicalAddresses() {
        #expect(IPAddress("::ffff:10.0.0.1") == IPAddress("10.0.0.1"))
        #expect(IPAddress("::ffff:10.0.0.1")?.description == "10.0.0.1")
        #expect(IPAddress("2001:DB8:0:0::1")?.description == "2001:db8::1")
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", "::g", "1.2.3.4/8", "localhost",
                    String(repeating: "1", count: 100), "1.2.3.4\u{0}", "١.٢.٣.٤"] {
            #expect(IPAddress(bad) == nil, "\(bad)")
        }
        #expect(IPAddress(forwardedEntry: " 1.2.3.4:8080 ") == IPAddress("1.2.3.4"))
        #expect(IPAddress(forwardedEntry: "[2001:db8::1]:443") == IPAddress("2001:db8::1"))
        #expect(IPAddress(forwardedEntry: "[2001:db8::1]") == IPAddress("2001:db8::1"))
        for bad in ["1.2.3.4:", "1.2.3.4:x", "[2001:db8::1", "[2001:db8::1]x", "unknown", "_hidden", ""] {
            #expect(IPAddress(forwardedEntry: Substring(bad)) == nil, "\(bad)")
        }
    }

    @Test("blocks match on their prefix, IPv4 and IPv6 apart")
    func blocks() throws {
        let proxies = try TrustedProxies(parsing: "10.0.0.0/8, 192.168.1.7 ,2001:db8::/32,fd00::/7")
        #expect(proxies.isTrusted(Self.ip("10.255.0.1")))
        #expect(!proxies.isTrusted(Self.ip("11.0.0.1")))
        #expect(proxies.isTrusted(Self.ip("192.168.1.7")) && !proxies.isTrusted(Self.ip("192.168.1.8")))
        #expect(proxies.isTrusted(Self.ip("2001:db8:ffff::1")) && !proxies.isTrusted(Self.ip("2001:db9::1")))
        #expect(proxies.isTrusted(Self.ip("fdff::1")) && proxies.isTrusted(Self.ip("fc00::1")) && !proxies.isTrusted(Self.ip("fe00::1")))
        #expect(!proxies.isTrusted(Self.ip("::ffff:11.0.0.1")))
        #expect(proxies.isTrusted(Self.ip("::ffff:10.1.2.3")), "a dual-stack socket's view of a trusted IPv4 peer")
        #expect(try TrustedProxies(parsing: "0.0.0.0/0").isTrusted(Self.ip("8.8.8.8")))
        #expect(try !TrustedProxies(parsing: "0.0.0.0/0").isTrusted(Self.ip("::1")))
        for bad in ["10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/+8", "::/129", "example.com", "10.0.0.0/8/8"] {
            #expect(throws: TrustedProxies.InvalidEntry.self, "\(bad)") { try TrustedProxies(parsing: bad) }
        }
    }

    @Test("the client is the first untrusted hop from the right; forgeries to its left do not count")
    func walk() throws {
        let proxies = try TrustedProxies(parsing: "10.0.0.0/8")
        let balancer = Self.ip("10.0.0.2")
        func client(_ peer: IPAddress, _ values: [String]) -> String {
            proxies.client(peer: peer, forwardedFor: values.map { Substring($0) }).description
        }
        #expect(client(balancer, ["203.0.113.9"]) == "203.0.113.9")
        // A forged entry the client put first is left of the real one: ignored.
        #expect(client(balancer, ["1.1.1.1, 203.0.113.9"]) == "203.0.113.9")
        // Two proxies in a row; lines of one field in order.
        #expect(client(balancer, ["1.1.1.1, 203.0.113.9, 10.0.0.5"]) == "203.0.113.9")
        #expect(client(balancer, ["1.1.1.1", "203.0.113.9", "10.0.0.5"]) == "203.0.113.9")
        // An untrusted peer's header is not believed at all.
        #expect(client(Self.ip("198.51.100.1"), ["203.0.113.9"]) == "198.51.100.1")
        // Garbage stops the walk at the last address reached, never at the garbage.
        #expect(client(balancer, ["203.0.113.9, garbage"]) == "10.0.0.2")
        #expect(client(balancer, ["203.0.113.9, 10.0.0.7, "]) == "10.0.0.2")
        #expect(client(balancer, ["garbage, 10.0.0.7"]) == "10.0.0.7")
        // Only proxies: the leftmost.
        #expect(client(balancer, ["10.0.0.9, 10.0.0.7"]) == "10.0.0.9")
        #expect(client(balancer, []) == "10.0.0.2")
        #expect(client(balancer, ["[2001:db8::5]:1234"]) == "2001:db8::5")
        // A long forged chain costs a walk, not memory, and still ends at the real client.
        #expect(client(balancer, [Array(repeating: "10.1.1.1", count: 2000).joined(separator: ",") + ", 203.0.113.9"]) == "203.0.113.9")
    }
}
