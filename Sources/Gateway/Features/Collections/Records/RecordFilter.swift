/// A condition on a record's metadata (`where`) and document (`where_document`), in Chroma's
/// language, parsed once per request and evaluated against the metadata each collection keeps
/// in memory: a filter never scans a table (Chroma #1394, #4089 did, per query).
///
/// Semantics, as Chroma's: `{"k": v}` is `{"k": {"$eq": v}}`; several keys in one object are
/// ANDed; `$gt $gte $lt $lte` compare numbers only (integers and floats by value); `$ne` and
/// `$nin` also match records without the key; `$in`/`$nin` take a non-empty list of one type.
/// On documents, `$contains`/`$not_contains` match substrings (a record without a document
/// does not contain anything). `$regex` is refused: its cost could not be bounded per query.
indirect enum RecordFilter: Sendable, Equatable {
    case all([RecordFilter])
    case any([RecordFilter])
    case compare(key: String, op: Comparison, value: MetadataValue)
    case member(key: String, values: [MetadataValue], negated: Bool)
    case contains(String, negated: Bool)
    /// Only these record ids (Chroma's `ids` beside a filter).
    case ids(Set<String>)

    enum Comparison: String, Sendable {
        case eq = "$eq", ne = "$ne", gt = "$gt", gte = "$gte", lt = "$lt", lte = "$lte"
    }

    static let maximumDepth = 16
    static let maximumTerms = 256

    func matches(id: String, _ metadata: Metadata, _ document: String?) -> Bool {
        switch self {
        case .all(let terms):
            for t in terms where !t.matches(id: id, metadata, document) { return false }
            return true
        case .any(let terms):
            for t in terms where t.matches(id: id, metadata, document) { return true }
            return false
        case .ids(let ids):
            return ids.contains(id)
        case .compare(let key, let op, let value):
            guard let stored = metadata[key] else { return op == .ne }
            switch op {
            case .eq: return stored.matches(value)
            case .ne: return !stored.matches(value)
            case .gt, .gte, .lt, .lte:
                guard let a = stored.number, let b = value.number else { return false }
                switch op {
                case .gt: return a > b
                case .gte: return a >= b
                case .lt: return a < b
                default: return a <= b
                }
            }
        case .member(let key, let values, let negated):
            guard let stored = metadata[key] else { return negated }
            let found = values.contains { stored.matches($0) }
            return found != negated
        case .contains(let text, let negated):
            guard let document else { return negated }
            return document.contains(text) != negated
        }
    }

    /// Both filters of a request as one (nil when neither restricts anything).
    static func combine(_ a: RecordFilter?, _ b: RecordFilter?) -> RecordFilter? {
        switch (a, b) {
        case (nil, nil): return nil
        case (let x?, nil), (nil, let x?): return x
        case (let x?, let y?): return .all([x, y])
        }
    }

    // MARK: Parsing

    /// A `where` object; nil for null or `{}` (no restriction).
    static func metadata(_ value: JSONValue?) throws(CollectionError) -> RecordFilter? {
        guard let value, value != .null else { return nil }
        var terms = 0
        return try parseWhere(value, depth: 0, terms: &terms)
    }

    /// A `where_document` object; nil for null or `{}`.
    static func document(_ value: JSONValue?) throws(CollectionError) -> RecordFilter? {
        guard let value, value != .null else { return nil }
        var terms = 0
        return try parseDocument(value, depth: 0, terms: &terms)
    }

    private static func parseWhere(_ value: JSONValue, depth: Int, terms: inout Int) throws(CollectionError) -> RecordFilter? {
        guard depth < maximumDepth else { throw .invalid("where: nested deeper than \(maximumDepth)") }
        guard case .object(let object) = value else { throw .invalid("where must be an object, not \(value.kindDescription)") }
        var parts: [RecordFilter] = []
        for key in object.keys {
            let member = object[key]!
            terms += 1
            guard terms <= maximumTerms else { throw .invalid("where: more than \(maximumTerms) conditions") }
            switch key {
            case "$and", "$or":
                guard case .array(let items) = member, !items.isEmpty else {
                    throw .invalid("where: \(key) takes a non-empty list of conditions")
                }
                var sub: [RecordFilter] = []
                for item in items {
                    if let f = try parseWhere(item, depth: depth + 1, terms: &terms) { sub.append(f) }
                }
                if !sub.isEmpty { parts.append(key == "$and" ? .all(sub) : .any(sub)) }
            default:
                guard !key.hasPrefix("$") else { throw .invalid("where: unknown operator '\(key.prefix(32))' (expected $and or $or)") }
                parts.append(try condition(key, member))
            }
        }
        if parts.isEmpty { return nil }
        return parts.count == 1 ? parts[0] : .all(parts)
    }

    private static func condition(_ key: String, _ member: JSONValue) throws(CollectionError) -> RecordFilter {
        let path = "where.\(key.prefix(64))"
        guard case .object(let ops) = member else {
            guard let v = try scalar(member, path) else { throw .invalid("\(path): null is not a value to compare with") }
            return .compare(key: key, op: .eq, value: v)
        }
        guard ops.count == 1, let op = ops.keys.first else { throw .invalid("\(path) takes exactly one operator") }
        let operand = ops[op]!
        if let comparison = Comparison(rawValue: op) {
            guard let v = try scalar(operand, "\(path).\(op)") else { throw .invalid("\(path).\(op): null is not a value to compare with") }
            if comparison != .eq && comparison != .ne && v.number == nil {
                throw .invalid("\(path).\(op) compares numbers; got \(describe(v))")
            }
            return .compare(key: key, op: comparison, value: v)
        }
        switch op {
        case "$in", "$nin":
            guard case .array(let items) = operand, !items.isEmpty else { throw .invalid("\(path).\(op) takes a non-empty list") }
            guard items.count <= 10_000 else { throw .invalid("\(path).\(op) takes at most 10000 values") }
            var values: [MetadataValue] = []
            for item in items {
                guard let v = try scalar(item, "\(path).\(op)") else { throw .invalid("\(path).\(op): null is not a value") }
                if let first = values.first, kind(first) != kind(v) {
                    throw .invalid("\(path).\(op): every value must be of one type")
                }
                values.append(v)
            }
            return .member(key: key, values: values, negated: op == "$nin")
        default:
            throw .invalid("\(path): unknown operator '\(op.prefix(32))' (expected $eq $ne $gt $gte $lt $lte $in $nin)")
        }
    }

    private static func parseDocument(_ value: JSONValue, depth: Int, terms: inout Int) throws(CollectionError) -> RecordFilter? {
        guard depth < maximumDepth else { throw .invalid("where_document: nested deeper than \(maximumDepth)") }
        guard case .object(let object) = value else { throw .invalid("where_document must be an object, not \(value.kindDescription)") }
        var parts: [RecordFilter] = []
        for key in object.keys {
            let member = object[key]!
            terms += 1
            guard terms <= maximumTerms else { throw .invalid("where_document: more than \(maximumTerms) conditions") }
            switch key {
            case "$contains", "$not_contains":
                guard case .string(let text) = member, !text.isEmpty else {
                    throw .invalid("where_document.\(key) takes a non-empty string")
                }
                parts.append(.contains(text, negated: key == "$not_contains"))
            case "$and", "$or":
                guard case .array(let items) = member, !items.isEmpty else {
                    throw .invalid("where_document: \(key) takes a non-empty list of conditions")
                }
                var sub: [RecordFilter] = []
                for item in items {
                    if let f = try parseDocument(item, depth: depth + 1, terms: &terms) { sub.append(f) }
                }
                if !sub.isEmpty { parts.append(key == "$and" ? .all(sub) : .any(sub)) }
            case "$regex", "$not_regex":
                throw .invalid("where_document.\(key) is not supported by this server; use $contains or $not_contains")
            default:
                throw .invalid("where_document: unknown operator '\(key.prefix(32))' (expected $contains $not_contains $and $or)")
            }
        }
        if parts.isEmpty { return nil }
        return parts.count == 1 ? parts[0] : .all(parts)
    }

    private static func scalar(_ value: JSONValue, _ path: String) throws(CollectionError) -> MetadataValue? {
        switch value {
        case .array: throw .invalid("\(path): a list is not a value to compare with")
        case .object: throw .invalid("\(path): an object is not a value to compare with")
        default: return try MetadataValue.parse(value, at: path)
        }
    }

    private static func kind(_ v: MetadataValue) -> Int {
        switch v {
        case .string: 0
        case .int, .float: 1
        case .bool: 2
        }
    }

    private static func describe(_ v: MetadataValue) -> String {
        switch v {
        case .string: "a string"
        case .bool: "a boolean"
        default: "a number"
        }
    }
}
