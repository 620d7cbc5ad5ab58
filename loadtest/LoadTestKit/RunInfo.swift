import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a reader needs to reproduce or trust a run: the command, the tool's version, when it
/// started and on what machine.
public struct RunInfo: Codable, Sendable, Equatable {
    public static let version = "loadtest 0.2.0"

    public var command: String
    public var version: String
    /// ISO 8601, UTC.
    public var started_at: String
    public var host: String
    public var cpus: Int
    /// `uname`: system, release, machine.
    public var os: String

    public static func current(startedAt: Double, arguments: [String] = CommandLine.arguments) -> RunInfo {
        var name = utsname()
        uname(&name)
        func text(_ field: inout some Any) -> String {
            withUnsafeBytes(of: &field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return RunInfo(command: arguments.map(quoted).joined(separator: " "), version: version,
                       started_at: formatter.string(from: Date(timeIntervalSince1970: startedAt)),
                       host: text(&name.nodename), cpus: ProcessInfo.processInfo.activeProcessorCount,
                       os: "\(text(&name.sysname)) \(text(&name.release)) \(text(&name.machine))")
    }

    /// A shell word: as is when safe, else in single quotes.
    static func quoted(_ word: String) -> String {
        let safe = word.allSatisfy { $0.isLetter || $0.isNumber || "-_./:=,@%+".contains($0) }
        return safe && !word.isEmpty ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
