/// A named limit and the headers that describe it (draft-ietf-httpapi-ratelimit-headers-10).
public struct RateLimitPolicy: Sendable, Equatable {
    public var name: String
    public var ratePerSecond: Double
    public var burst: Int64
    public let gcra: GCRA

    public init(name: String = "default", ratePerSecond: Double, burst: Int64) {
        self.name = name
        self.ratePerSecond = ratePerSecond
        self.burst = burst
        gcra = GCRA(ratePerSecond: ratePerSecond, burst: burst)
    }

    /// `"default";q=100;w=1`: the quota per window (a window of whole seconds).
    public var policyHeader: String {
        if ratePerSecond >= 1 { return "\"\(name)\";q=\(Int64(ratePerSecond.rounded()));w=1" }
        return "\"\(name)\";q=1;w=\(max(1, Int64((1 / ratePerSecond).rounded())))"
    }

    /// `"default";r=42;t=1` for a decision (built without interpolation: it is on every
    /// limited response).
    public func stateHeader(_ decision: GCRA.Decision) -> String {
        let t = decision.allowed ? decision.nextUnitAfter : max(decision.retryAfter, decision.nextUnitAfter)
        var out = [UInt8]()
        out.reserveCapacity(name.utf8.count + 32)
        out.append(0x22)
        out.append(contentsOf: name.utf8)
        out.append(contentsOf: [0x22, 0x3B, 0x72, 0x3D])  // ";r=
        RateLimitPolicy.appendDecimal(decision.remaining, &out)
        out.append(contentsOf: [0x3B, 0x74, 0x3D])  // ;t=
        RateLimitPolicy.appendDecimal((t + 999_999) / 1_000_000, &out)
        return String(decoding: out, as: UTF8.self)
    }

    @inline(__always)
    static func appendDecimal(_ value: Int64, _ out: inout [UInt8]) {
        var v = UInt64(max(0, value))
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[23 - count] = UInt8(truncatingIfNeeded: v % 10) + 0x30
                v /= 10
                count += 1
            } while v > 0
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[(24 - count)...]))
        }
    }

    /// Parses "100/s", "6000/m", "10/h" or a bare number (per second).
    public static func parseRate(_ text: String) -> Double? {
        let parts = text.split(separator: "/", maxSplits: 1).map { $0.filter { !$0.isWhitespace } }
        guard let first = parts.first, let amount = Double(first), amount > 0, amount.isFinite else { return nil }
        guard parts.count == 2 else { return amount }
        switch parts[1] {
        case "s", "sec", "second": return amount
        case "m", "min", "minute": return amount / 60
        case "h", "hour": return amount / 3600
        default: return nil
        }
    }
}

