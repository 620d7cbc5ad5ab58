/// One metadata value: what Chroma allows (string, integer, float, boolean). Integers and
/// floats stay distinct as they were written (`1` is an integer, `1.0` a float), and compare
/// numerically with each other in filters.
enum MetadataValue: Sendable, Equatable {
    case string(String)
    case int(Int64)
    case float(Double)
    case bool(Bool)

    /// A JSON value as metadata; nil for null (the key is then absent). Arrays and objects are
    /// refused, as Chroma refuses them.
    static func parse(_ value: JSONValue, at path: String) throws(CollectionError) -> MetadataValue? {
        switch value {
        case .null: return nil
        case .bool(let b): return .bool(b)
        case .string(let s): return .string(s)
        case .number(let text): return try number(text, at: path)
        case .array: throw .invalid("\(path) is an array; metadata values are strings, numbers or booleans")
        case .object: throw .invalid("\(path) is an object; metadata values are strings, numbers or booleans")
        }
    }

    static func number(_ text: String, at path: String) throws(CollectionError) -> MetadataValue {
        if !text.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            guard let v = Int64(text) else { throw .invalid("\(path): \(text.prefix(40)) does not fit a 64-bit integer") }
            return .int(v)
        }
        guard let v = Double(text), v.isFinite else { throw .invalid("\(path): \(text.prefix(40)) is not a finite number") }
        return .float(v)
    }

    var number: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .float(let v): return v
        default: return nil
        }
    }

    /// Equality as filters see it: numbers by value across integer and float.
    func matches(_ other: MetadataValue) -> Bool {
        switch (self, other) {
        case (.string(let a), .string(let b)): return a == b
        case (.bool(let a), .bool(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        default:
            if let a = number, let b = other.number { return a == b }
            return false
        }
    }

    func write(into w: inout JSONWriter) {
        switch self {
        case .string(let s): w.string(s)
        case .int(let v): w.raw(String(v))
        case .float(let v):
            // Swift's shortest round-trip form; "1.0" keeps a float a float when read back.
            w.raw(v.description)
        case .bool(let b): w.bool(b)
        }
    }
}

/// A record's metadata: few keys, so a short array beats a dictionary in memory and lookup.
struct Metadata: Sendable, Equatable {
    private(set) var fields: [(key: String, value: MetadataValue)] = []

    static func == (a: Metadata, b: Metadata) -> Bool {
        a.fields.count == b.fields.count && zip(a.fields, b.fields).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    var isEmpty: Bool { fields.isEmpty }

    subscript(key: String) -> MetadataValue? {
        for field in fields where field.key == key { return field.value }
        return nil
    }

    /// Sets or (nil) removes a key.
    mutating func set(_ key: String, _ value: MetadataValue?) {
        if let i = fields.firstIndex(where: { $0.key == key }) {
            if let value { fields[i].value = value } else { fields.remove(at: i) }
        } else if let value {
            fields.append((key, value))
        }
    }

    /// Metadata from a request: an object of scalar values (null drops a key). Chroma's
    /// reserved `chroma:` prefix and empty keys are refused.
    static func parse(_ value: JSONValue, at path: String) throws(CollectionError) -> Metadata {
        guard case .object(let object) = value else { throw .invalid("\(path) must be an object, not \(value.kindDescription)") }
        var metadata = Metadata()
        for key in object.keys {
            guard !key.isEmpty else { throw .invalid("\(path) has an empty key") }
            guard !key.hasPrefix("chroma:") else { throw .invalid("\(path): keys starting with 'chroma:' are reserved") }
            if let v = try MetadataValue.parse(object[key]!, at: "\(path).\(key.prefix(64))") { metadata.fields.append((key, v)) }
        }
        return metadata
    }

    /// Metadata as stored (a JSON object written by `json`). Values that are not scalars
    /// (written by another tool) are skipped rather than failing a whole load.
    static func stored(_ text: String) -> Metadata {
        // Most records carry none; a load of a million of them parsed "null" a million times.
        if text.isEmpty || text == "null" || text == "{}" { return Metadata() }
        guard let value = try? JSONParser.parse(Array(text.utf8)), case .object(let object) = value else { return Metadata() }
        var metadata = Metadata()
        for key in object.keys {
            if let v = try? MetadataValue.parse(object[key]!, at: key) { metadata.fields.append((key, v)) }
        }
        return metadata
    }

    /// The JSON object text stored in the database and sent in answers.
    var json: String {
        var w = JSONWriter(capacity: 32 + fields.count * 24)
        write(into: &w)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    func write(into w: inout JSONWriter) {
        w.raw("{")
        for (i, field) in fields.enumerated() {
            if i > 0 { w.raw(",") }
            w.string(field.key)
            w.raw(":")
            field.value.write(into: &w)
        }
        w.raw("}")
    }
}
