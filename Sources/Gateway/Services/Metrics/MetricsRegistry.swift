import Synchronization

/// Every component's Prometheus series, rendered by one renderer (text format 0.0.4).
///
/// A component registers a source once (HTTP traffic, the rate limiter, pools, upstreams,
/// jobs); a scrape asks each source to write its families into one `PrometheusText`. The
/// request path never touches the registry: sources read counters their components keep
/// (per-loop `SingleWriterCounter`s, atomics) only when `/metrics` is scraped.
public final class MetricsRegistry: Sendable {
    public typealias Source = @Sendable (inout PrometheusText) -> Void
    private let sources = Mutex<[(name: String, source: Source)]>([])

    public init() {}

    /// Adds (or, under the same name, replaces) a source.
    public func register(_ name: String, _ source: @escaping Source) {
        sources.withLock { list in
            if let i = list.firstIndex(where: { $0.name == name }) { list[i].source = source } else { list.append((name, source)) }
        }
    }

    /// The text exposition of every source, in registration order.
    public func render() -> String {
        let current = sources.withLock { $0 }
        var text = PrometheusText()
        for entry in current { entry.source(&text) }
        return text.output
    }
}

/// Prometheus text being written: families with their HELP and TYPE lines, samples with
/// escaped labels.
public struct PrometheusText: Sendable {
    public enum Kind: String, Sendable { case counter, gauge, histogram }
    public private(set) var output = ""

    public init() { output.reserveCapacity(8192) }

    /// Starts a family (its HELP and TYPE lines).
    public mutating func family(_ name: String, _ kind: Kind, _ help: String) {
        output += "# HELP \(name) \(help)\n# TYPE \(name) \(kind.rawValue)\n"
    }

    /// One sample of the current family.
    public mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: String) {
        output += name
        if !labels.isEmpty {
            output += "{"
            for (i, (label, labelValue)) in labels.enumerated() {
                if i > 0 { output += "," }
                output += label + "=\"" + PrometheusText.escape(labelValue) + "\""
            }
            output += "}"
        }
        output += " " + value + "\n"
    }

    public mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: Int) {
        sample(name, labels, String(value))
    }

    /// A family with one unlabelled sample.
    public mutating func single(_ name: String, _ kind: Kind, _ help: String, _ value: String) {
        family(name, kind, help)
        sample(name, [], value)
    }

    static func escape(_ label: String) -> String {
        var out = ""
        for c in label {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }
}
