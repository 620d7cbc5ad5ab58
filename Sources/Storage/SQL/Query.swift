import Synchronization

/// A statement of the schema, written once per dialect and prepared once per connection.
///
/// Queries are static values named for the prepared-statement caches; the parameter count is
/// checked when a statement is bound, so a mismatch fails in the first test that runs it.
/// A class: a statement carries one reference instead of three strings, and each query has a
/// small dense `id` that connections use to remember what they have prepared.
public final class Query: Sendable, Hashable {
    public let name: String
    public let postgres: String
    public let sqlite: String
    public let parameterCount: Int
    /// Dense and process-unique (queries are made once, as statics).
    public let id: Int
    /// `name` as a C string, made once: libpq takes the name on every execution.
    let cName: [CChar]

    private static let nextID = Atomic<Int>(0)

    public init(_ name: String, postgres: String, sqlite: String, parameters: Int) {
        self.name = name
        self.postgres = postgres
        self.sqlite = sqlite
        self.parameterCount = parameters
        id = Query.nextID.add(1, ordering: .relaxed).oldValue
        cName = Array(name.utf8CString)
    }

    /// The same text on both backends, with `$n` placeholders (SQLite accepts `$n` too).
    public convenience init(_ name: String, _ sql: String, parameters: Int) {
        self.init(name, postgres: sql, sqlite: sql, parameters: parameters)
    }

    public static func == (a: Query, b: Query) -> Bool { a.name == b.name }
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }

    public func callAsFunction(_ values: SQLValue...) -> Statement {
        precondition(values.count == parameterCount, "\(name): \(values.count) values for \(parameterCount) parameters")
        return Statement(query: self, values: values)
    }

    public func bind(_ values: [SQLValue]) -> Statement {
        precondition(values.count == parameterCount, "\(name): \(values.count) values for \(parameterCount) parameters")
        return Statement(query: self, values: values)
    }
}

/// A query with its parameter values.
public struct Statement: Sendable {
    public let query: Query
    public let values: [SQLValue]
}

/// Which backend a store runs on, for the few places where the statements differ in shape
/// (not just in text), such as set-based batch upserts on PostgreSQL.
public enum SQLDialect: Sendable {
    case sqlite
    case postgres
}
