import Net

/// Request bodies decoded strictly, for every feature: `JSONBody.decode(T.self, from: request)`.
///
/// - broken JSON, invalid UTF-8, duplicate keys, a body that is not the expected shape at
///   the top → 400 `invalid_json`;
/// - unknown fields, wrong types, missing fields, numbers a field's type cannot hold exactly
///   (`1e30` for an Int, `1.5` for an Int, `300` for a UInt8) → 422 `invalid_request`, naming
///   the field's path (`limits.burst`, `records[3].id`).
///
/// Nothing traps on hostile input: numbers are decoded from their text with range checks.
public enum JSONBody {
    /// Decodes the request's body; an empty body decodes as `{}`.
    public static func decode<T: Decodable>(_ type: T.Type, from request: HTTPRequest) throws(GatewayError) -> T {
        let result = request.withBody { bytes in Result { () throws(GatewayError) -> T in try decode(type, from: bytes) } }
        return try result.get()
    }

    public static func decode<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) throws(GatewayError) -> T {
        let value: JSONValue
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            value = .object(JSONObject())
        } else {
            do { value = try JSONParser.parse(bytes) } catch {
                throw GatewayError(.badRequest, "invalid_json", "the body is not valid JSON: \(error.description)")
            }
        }
        return try decode(type, from: value)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws(GatewayError) -> T {
        let tracker = UnknownFieldTracker()
        let decoder = StrictJSONDecoder(value: value, codingPath: [], tracker: tracker)
        let result: T
        do {
            result = try T(from: decoder)
        } catch let error as GatewayError {
            throw error
        } catch let error as DecodingError {
            if case .typeMismatch(_, let context) = error, context.codingPath.isEmpty {
                throw GatewayError(.badRequest, "invalid_json", "the body must be \(context.debugDescription)")
            }
            throw GatewayError(.unprocessableContent, "invalid_request", describe(error))
        } catch {
            throw GatewayError(.unprocessableContent, "invalid_request", "\(error)")
        }
        if let unknown = tracker.firstUnknown() {
            throw GatewayError(.unprocessableContent, "invalid_request", "unknown field '\(unknown.prefix(128))'")
        }
        return result
    }

    /// A coding path as `a.b[3].c`.
    static func path(_ codingPath: [any CodingKey]) -> String {
        var out = ""
        for key in codingPath {
            if let index = key.intValue { out += "[\(index)]" } else { out += out.isEmpty ? key.stringValue : "." + key.stringValue }
        }
        return out
    }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(_, let c):
            return "'\(path(c.codingPath))' must be \(c.debugDescription)"
        case .valueNotFound(_, let c):
            return "'\(path(c.codingPath))' must not be null"
        case .keyNotFound(let key, let c):
            return "'\(path(c.codingPath + [key]))' is required"
        case .dataCorrupted(let c):
            return c.codingPath.isEmpty ? c.debugDescription : "'\(path(c.codingPath))': \(c.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}

/// Which members of each decoded object were asked for; the rest are unknown fields.
final class UnknownFieldTracker {
    struct Seen {
        let path: [any CodingKey]
        let keys: [String]
        var used: Set<String> = []
    }
    var objects: [Seen] = []

    func register(path: [any CodingKey], keys: [String]) -> Int {
        objects.append(Seen(path: path, keys: keys))
        return objects.count - 1
    }

    func use(_ slot: Int, _ key: String) { objects[slot].used.insert(key) }

    /// An object container's `allKeys` was read: the type looks at every member itself
    /// (a dictionary, a metadata map), so none is unknown.
    func useAll(_ slot: Int) { objects[slot].used = Set(objects[slot].keys) }

    func firstUnknown() -> String? {
        for object in objects {
            for key in object.keys where !object.used.contains(key) {
                return JSONBody.path(object.path + [StrictJSONDecoder.Key(key)])
            }
        }
        return nil
    }
}

/// A `Decoder` over a `JSONValue` that refuses what Foundation's JSONDecoder would bend:
/// numbers out of a type's range or not exactly representable, strings for numbers, and (via
/// the tracker) members nobody asked for.
struct StrictJSONDecoder: Decoder {
    struct Key: CodingKey {
        let stringValue: String
        let intValue: Int?
        init(_ string: String) { stringValue = string; intValue = nil }
        init(index: Int) { stringValue = "\(index)"; intValue = index }
        init?(stringValue: String) { self.init(stringValue) }
        init?(intValue: Int) { self.init(index: intValue) }
    }

    let value: JSONValue
    let codingPath: [any CodingKey]
    let tracker: UnknownFieldTracker
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<K: CodingKey>(keyedBy type: K.Type) throws -> KeyedDecodingContainer<K> {
        guard case .object(let object) = value else { throw mismatch("an object") }
        let slot = tracker.register(path: codingPath, keys: object.keys)
        return KeyedDecodingContainer(KeyedContainer<K>(object: object, codingPath: codingPath, tracker: tracker, slot: slot))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = value else { throw mismatch("an array") }
        return UnkeyedContainer(elements: elements, codingPath: codingPath, tracker: tracker)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleValue(value: value, codingPath: codingPath, tracker: tracker)
    }

    func mismatch(_ expected: String) -> DecodingError {
        .typeMismatch(Any.self, .init(codingPath: codingPath, debugDescription: "\(expected), not \(value.kindDescription)"))
    }
}

extension StrictJSONDecoder {
    struct KeyedContainer<K: CodingKey>: KeyedDecodingContainerProtocol {
        let object: JSONObject
        let codingPath: [any CodingKey]
        let tracker: UnknownFieldTracker
        let slot: Int

        var allKeys: [K] {
            tracker.useAll(slot)
            return object.keys.compactMap { K(stringValue: $0) }
        }

        func contains(_ key: K) -> Bool {
            tracker.use(slot, key.stringValue)
            return object[key.stringValue] != nil
        }

        func child(_ key: K) throws -> StrictJSONDecoder {
            tracker.use(slot, key.stringValue)
            guard let value = object[key.stringValue] else {
                throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "missing"))
            }
            return StrictJSONDecoder(value: value, codingPath: codingPath + [key], tracker: tracker)
        }

        func decodeNil(forKey key: K) throws -> Bool {
            tracker.use(slot, key.stringValue)
            if case .null = object[key.stringValue] ?? .null { return true }
            return false
        }

        func decode<T: Decodable>(_ type: T.Type, forKey key: K) throws -> T {
            try T(from: child(key))
        }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: K) throws -> KeyedDecodingContainer<NestedKey> {
            try child(key).container(keyedBy: type)
        }

        func nestedUnkeyedContainer(forKey key: K) throws -> any UnkeyedDecodingContainer {
            try child(key).unkeyedContainer()
        }

        func superDecoder() throws -> any Decoder { try child(K(stringValue: "super")!) }
        func superDecoder(forKey key: K) throws -> any Decoder { try child(key) }
    }

    struct UnkeyedContainer: UnkeyedDecodingContainer {
        let elements: [JSONValue]
        let codingPath: [any CodingKey]
        let tracker: UnknownFieldTracker
        var currentIndex = 0
        var count: Int? { elements.count }
        var isAtEnd: Bool { currentIndex >= elements.count }

        init(elements: [JSONValue], codingPath: [any CodingKey], tracker: UnknownFieldTracker) {
            self.elements = elements
            self.codingPath = codingPath
            self.tracker = tracker
        }

        mutating func next() throws -> StrictJSONDecoder {
            guard !isAtEnd else {
                throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "the array ended"))
            }
            defer { currentIndex += 1 }
            return StrictJSONDecoder(value: elements[currentIndex], codingPath: codingPath + [Key(index: currentIndex)], tracker: tracker)
        }

        mutating func decodeNil() throws -> Bool {
            guard !isAtEnd else { return false }
            if case .null = elements[currentIndex] { currentIndex += 1; return true }
            return false
        }

        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: next()) }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
            try next().container(keyedBy: type)
        }

        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }
        mutating func superDecoder() throws -> any Decoder { try next() }
    }

    struct SingleValue: SingleValueDecodingContainer {
        let value: JSONValue
        let codingPath: [any CodingKey]
        let tracker: UnknownFieldTracker

        var decoder: StrictJSONDecoder { StrictJSONDecoder(value: value, codingPath: codingPath, tracker: tracker) }

        func decodeNil() -> Bool { value == .null }

        func decode(_ type: Bool.Type) throws -> Bool {
            guard case .bool(let b) = value else { throw decoder.mismatch("true or false") }
            return b
        }

        func decode(_ type: String.Type) throws -> String {
            guard case .string(let s) = value else { throw decoder.mismatch("a string") }
            return s
        }

        func decode(_ type: Double.Type) throws -> Double {
            guard case .number(let text) = value, let d = Double(text), d.isFinite else {
                throw decoder.mismatch("a finite number")
            }
            return d
        }

        func decode(_ type: Float.Type) throws -> Float {
            let d = try decode(Double.self)
            guard abs(d) <= Double(Float.greatestFiniteMagnitude) else { throw decoder.mismatch("a number within a float's range") }
            return Float(d)
        }

        /// A whole number within `T`'s range, written as an integer or as an exact decimal
        /// (`2`, `2.0`, `2e3`); anything else is refused rather than rounded or trapped.
        func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
            guard case .number(let text) = value else { throw decoder.mismatch("a whole number") }
            if let exact = T(text) { return exact }
            guard let d = Double(text), d.isFinite, d == d.rounded(), d >= Double(T.min), d <= Double(T.max),
                  let converted = T(exactly: d) else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath,
                    debugDescription: "must be a whole number from \(T.min) to \(T.max), not \(text.prefix(40))"))
            }
            return converted
        }

        func decode(_ type: Int.Type) throws -> Int { try integer(type) }
        func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
        func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
        func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
        func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
        func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
        func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
        func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
        func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
        func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }

        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            if T.self == JSONValue.self { return value as! T }
            return try T(from: decoder)
        }
    }
}

/// A member whose value is any JSON (metadata, pass-through fields): taken as parsed. No
/// container is made for it, so none of its members counts as unknown.
extension JSONValue: Decodable {
    public init(from decoder: any Decoder) throws {
        guard let strict = decoder as? StrictJSONDecoder else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "JSONValue decodes only from JSONBody"))
        }
        self = strict.value
    }
}
