#if canImport(Net)
import Net
#endif

/// A request path as a file under `static-dir`, or nothing.
///
/// Why it exists: this is the one place a URL becomes a file name, so it is where traversal is
/// stopped. The raw path is split on `/` first and each segment percent-decoded once (so `%2F`
/// can never make a separator and `%252e%252e` stays the literal name `%2e%2e`); a segment that
/// is empty, `.`, `..`, starts with a dot (`.git`, `.env`), or holds NUL, `\` or a control
/// character refuses the whole path. Symlinks that leave the folder are caught afterwards, on
/// the resolved file (`StaticAssetsFeature`). A pure function: no I/O, fuzzed
/// (`Fuzz/run.sh staticpath`).
enum StaticPath {
    /// The relative file path ("css/site.css"; "" for the root), and whether the URL ended in `/`.
    static func relative(rawPath: [UInt8]) -> (path: String, directory: Bool)? {
        guard rawPath.first == 0x2F, rawPath.count <= 4096 else { return nil }
        var segments: [String] = []
        let parts = rawPath.dropFirst().split(separator: 0x2F, omittingEmptySubsequences: false)
        for (i, part) in parts.enumerated() {
            if part.isEmpty {
                // Only a trailing slash (or the root itself) may be empty.
                guard i == parts.count - 1 else { return nil }
                continue
            }
            guard let segment = part.withUnsafeBytes({ PercentDecoding.decode($0) }), !segment.isEmpty,
                  segment != ".", segment != "..", !segment.hasPrefix(".") else { return nil }
            for scalar in segment.unicodeScalars where scalar.value < 0x20 || scalar.value == 0x7F || scalar == "\\" || scalar == "/" {
                return nil
            }
            segments.append(segment)
        }
        return (segments.joined(separator: "/"), rawPath.last == 0x2F)
    }
}
