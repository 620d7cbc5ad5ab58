/// One step of the schema, written for each backend. Steps are append-only: an applied step
/// is never edited (the migrator refuses a database whose recorded checksum differs).
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let postgres: String
    public let sqlite: String

    public init(version: Int, name: String, postgres: String, sqlite: String) {
        self.version = version
        self.name = name
        self.postgres = postgres
        self.sqlite = sqlite
    }

    public func sql(for dialect: SQLDialect) -> String {
        dialect == .postgres ? postgres : sqlite
    }

    /// FNV-1a of the step's text, recorded when it is applied.
    public func checksum(for dialect: SQLDialect) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in sql(for: dialect).utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
