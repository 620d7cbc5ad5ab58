/// One parameter or column value, in the few shapes the schema uses. Both backends bind and
/// read exactly these, so the Store's logic is written once.
public enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
    /// A JSON document (PostgreSQL `jsonb`, SQLite `TEXT` checked by `json_valid`).
    case json(String)
    /// Parameter arrays for set-based statements on PostgreSQL (`unnest`); SQLite never sees them.
    case textArray([String])
    case optionalTextArray([String?])
    case blobArray([[UInt8]])
    case jsonArray([String])

    public var int: Int64? {
        if case .integer(let v) = self { return v }
        return nil
    }
    public var string: String? {
        switch self {
        case .text(let s), .json(let s): return s
        default: return nil
        }
    }
    public var bytes: [UInt8]? {
        if case .blob(let b) = self { return b }
        return nil
    }
    public var double: Double? {
        switch self {
        case .real(let d): return d
        case .integer(let i): return Double(i)
        default: return nil
        }
    }
}

/// The rows one statement returned.
public struct SQLResult: Sendable {
    public var rows: [[SQLValue]]
    /// Rows changed, for statements without RETURNING.
    public var affected: Int

    public init(rows: [[SQLValue]] = [], affected: Int = 0) {
        self.rows = rows
        self.affected = affected
    }
}
