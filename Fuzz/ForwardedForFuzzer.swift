// libFuzzer entry for the client-address rules (Gateway's IPAddress and TrustedProxies), built
// by Fuzz/run.sh with -sanitize=fuzzer,address. The input is lines: a trusted-proxies list, a
// peer address, then X-Forwarded-For values. Invariants:
//  - nothing crashes, loops or reads out of bounds, whatever the bytes;
//  - every parsed address prints canonically and parses back to itself;
//  - every parsed block contains its own address;
//  - the client is the peer, or an address written in one of the header values, and when the
//    peer is not trusted it is always the peer;
//  - when the client is not the peer, every hop to its right was a trusted proxy.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    guard lines.count >= 2 else { return 0 }
    for entry in lines[0].split(separator: ",") {
        if let network = TrustedProxies.Network(entry.trimmingSpaces) {
            guard network.contains(network.address) else { fatalError("\(network) does not contain its own address") }
        }
    }
    for line in lines {
        for entry in line.split(separator: ",", omittingEmptySubsequences: false) {
            if let address = IPAddress(forwardedEntry: entry) {
                guard IPAddress(address.description) == address else { fatalError("\(address) does not round-trip from \(entry.debugDescription)") }
            }
        }
    }
    guard let proxies = try? TrustedProxies(parsing: String(lines[0])), let peer = IPAddress(lines[1]) else { return 0 }
    let values = Array(lines.dropFirst(2))
    let client = proxies.client(peer: peer, forwardedFor: values)
    if !proxies.isTrusted(peer) {
        guard client == peer else { fatalError("an untrusted peer's header was believed") }
        return 0
    }
    guard client != peer else { return 0 }
    // Walk the entries from the right: all trusted until the client.
    let entries = values.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
    guard let index = entries.lastIndex(where: { IPAddress(forwardedEntry: $0) == client }) else {
        fatalError("client \(client) appears nowhere in the header")
    }
    for entry in entries[(index + 1)...] {
        guard let hop = IPAddress(forwardedEntry: entry), proxies.isTrusted(hop) else {
            fatalError("client \(client) chosen past an untrusted or malformed hop \(entry.debugDescription)")
        }
    }
    return 0
}
