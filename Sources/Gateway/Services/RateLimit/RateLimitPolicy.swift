/// A named limit and the headers that describe it (draft-ietf-httpapi-ratelimit-headers-10).
public struct RateLimitPolicy: Sendable, Equatable {
    public var name: String
    public var ratePerSecond: Double
    public var burst: Int64
    public let gcra: GCRA

    /// The rates a policy can express: one request per ~11.6 days up to 10^12 a second.
    public static let rateRange: ClosedRange<Double> = 1e-6...1e12

    public init(name: String = "default", ratePerSecond: Double, burst: Int64) {
        self.name = name
        // Clamped here, where every policy is made: the header arithmetic below converts to Int64.
        self.ratePerSecond = ratePerSecond.isNaN ? RateLimitPolicy.rateRange.lowerBound
            : min(max(ratePerSecond, RateLimitPolicy.rateRange.lowerBound), RateLimitPolicy.rateRange.upperBound)
        self.burst = min(max(1, burst), GCRA.maximumBurst)
        gcra = GCRA(ratePerSecond: self.ratePerSecond, burst: self.burst)
    }

    /// `"default";q=100;w=1`: the quota per window (a window of whole seconds).
    public var policyHeader: String {
        if ratePerSecond >= 1 { return "\"\(name)\";q=\(Int64(ratePerSecond.rounded()));w=1" }
        return "\"\(name)\";q=1;w=\(max(1, Int64((1 / ratePerSecond).rounded())))"
    }

    /// `"default";r=42;t=1` for a decision, written straight into the string's storage (it is
    /// on every limited response: one allocation, no intermediate array or interpolation).
    public func stateHeader(_ decision: GCRA.Decision) -> String {
        let t = decision.allowed ? decision.nextUnitAfter : max(decision.retryAfter, decision.nextUnitAfter)
        var name = name
        return name.withUTF8 { nameBytes in
            // Quotes, ";r=", ";t=" and two 20-digit numbers at most.
            String(unsafeUninitializedCapacity: nameBytes.count + 48) { out in
                var i = 0
                out[i] = 0x22; i += 1
                for byte in nameBytes { out[i] = byte; i += 1 }
                out[i] = 0x22; out[i + 1] = 0x3B; out[i + 2] = 0x72; out[i + 3] = 0x3D; i += 4  // ";r=
                i = RateLimitPolicy.writeDecimal(decision.remaining, out, at: i)
                out[i] = 0x3B; out[i + 1] = 0x74; out[i + 2] = 0x3D; i += 3  // ;t=
                return RateLimitPolicy.writeDecimal((t + 999_999) / 1_000_000, out, at: i)
            }
        }
    }

    /// Writes `value` (negative as 0) in decimal at `index`; returns the index after it.
    @inline(__always)
    static func writeDecimal(_ value: Int64, _ out: UnsafeMutableBufferPointer<UInt8>, at index: Int) -> Int {
        var v = UInt64(max(0, value))
        var digits = 1
        var probe = v
        while probe >= 10 { probe /= 10; digits += 1 }
        var i = index + digits
        repeat {
            i -= 1
            out[i] = UInt8(truncatingIfNeeded: v % 10) + 0x30
            v /= 10
        } while v > 0
        return index + digits
    }

    /// Parses "100/s", "6000/m", "10/h" or a bare number (per second).
    public static func parseRate(_ text: String) -> Double? {
        let parts = text.split(separator: "/", maxSplits: 1).map { $0.filter { !$0.isWhitespace } }
        guard let first = parts.first, let amount = Double(first), amount > 0, amount.isFinite else { return nil }
        let perSecond: Double
        if parts.count == 2 {
            switch parts[1] {
            case "s", "sec", "second": perSecond = amount
            case "m", "min", "minute": perSecond = amount / 60
            case "h", "hour": perSecond = amount / 3600
            default: return nil
            }
        } else {
            perSecond = amount
        }
        return rateRange.contains(perSecond) ? perSecond : nil
    }
}

