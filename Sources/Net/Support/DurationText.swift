/// Durations as people write them on command lines and in configuration files: `10s`,
/// `500ms`, `2m`, `1h`, `250us`, compounds such as `1m30s`, or a bare number of seconds.
/// One parser for the gateway's configuration and for loadtest, so both read the same texts.
public enum DurationText {
    /// Seconds, or nil for anything else (negative, not finite, an unknown unit). Units are
    /// case-insensitive; surrounding spaces are ignored.
    public static func seconds(_ text: String) -> Double? {
        let t = Substring(text.lowercased()).trimmingASCIISpaces
        guard !t.isEmpty else { return nil }
        if let bare = Double(t) { return bare.isFinite && bare >= 0 ? bare : nil }
        var total = 0.0
        var rest = t
        while !rest.isEmpty {
            let number = rest.prefix { ($0.isNumber && $0.isASCII) || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isLetter && $0.isASCII }
            rest = rest.dropFirst(unit.count)
            let scale: Double
            switch unit {
            case "h": scale = 3600
            case "m": scale = 60
            case "s": scale = 1
            case "ms": scale = 0.001
            case "us": scale = 0.000_001
            default: return nil
            }
            total += value * scale
        }
        return total.isFinite ? total : nil
    }
}

extension Substring {
    var trimmingASCIISpaces: Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return text
    }
}
