import Logging
#if canImport(Glibc)
import Glibc
#endif

/// A swift-log handler that writes one JSON object per line to standard error with a single
/// write(2), so lines from different loops never interleave and no lock is taken.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String

    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var w = JSONWriter(capacity: 256)
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        w.raw("{\"ts\":")
        w.number(Double(now.tv_sec) + Double(now.tv_nsec / 1_000_000) / 1000)
        w.raw(",\"level\":")
        w.string(event.level.rawValue)
        w.raw(",\"logger\":")
        w.string(label)
        w.raw(",\"msg\":")
        w.string(event.message.description)
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        for key in all.keys.sorted() {
            w.raw(",")
            w.string(key)
            w.raw(":")
            w.string(all[key]!.description)
        }
        w.raw("}\n")
        let bytes = w.bytes
        bytes.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    }
}
