import Net
import Storage

/// Chroma's request bodies, read member by member (`JSONParser`'s streaming face): a batch's
/// embeddings go straight into `[Float]`s — from JSON arrays, or from the base64 little-endian
/// float32 strings the client sends once the server advertises `supports_base64_encoding` —
/// and everything else is read as a value. A member the 1.5.9 client does not send is refused
/// (a typo must not pass for a default), as is a member given twice.
enum ChromaBodies {
    /// Reads the body's top object, calling `member` for each name; `member` consumes the
    /// value and returns false for a name it does not know.
    static func read(_ request: HTTPRequest, _ member: (inout JSONParser, String) throws(CollectionError) -> Bool) throws(CollectionError) {
        let result = request.withBody { bytes -> Result<Void, CollectionError> in
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return .success(()) }
            var parser = JSONParser(bytes)
            var seen = Set<String>()
            do throws(JSONParser.Failure) {
                try parser.beginObject()
                while let name = try parser.nextMember() {
                    guard seen.insert(name).inserted else {
                        return .failure(.invalid("the body names '\(name.prefix(64))' twice"))
                    }
                    let known: Bool
                    do throws(CollectionError) { known = try member(&parser, name) } catch { return .failure(error) }
                    guard known else { return .failure(.invalid("unknown field '\(name.prefix(64))'")) }
                }
                try parser.end()
            } catch {
                return .failure(.malformed("the body is not valid JSON: \(error.description)"))
            }
            return .success(())
        }
        try result.get()
    }

    /// A failure inside a member reader: JSON errors and field errors are both `CollectionError`.
    static func value(_ parser: inout JSONParser) throws(CollectionError) -> JSONValue {
        do { return try parser.readValue() } catch { throw .malformed("the body is not valid JSON: \(error.description)") }
    }

    static func strings(_ value: JSONValue, _ field: String) throws(CollectionError) -> [String]? {
        switch value {
        case .null: return nil
        case .array(let items):
            var out: [String] = []
            out.reserveCapacity(items.count)
            for (i, item) in items.enumerated() {
                guard case .string(let s) = item else { throw .invalid("\(field)[\(i)] must be a string, not \(item.kindDescription)") }
                out.append(s)
            }
            return out
        default: throw .invalid("\(field) must be a list of strings, not \(value.kindDescription)")
        }
    }

    static func optionalStrings(_ value: JSONValue, _ field: String) throws(CollectionError) -> [String?]? {
        switch value {
        case .null: return nil
        case .array(let items):
            var out: [String?] = []
            out.reserveCapacity(items.count)
            for (i, item) in items.enumerated() {
                switch item {
                case .null: out.append(nil)
                case .string(let s): out.append(s)
                default: throw .invalid("\(field)[\(i)] must be a string or null, not \(item.kindDescription)")
                }
            }
            return out
        default: throw .invalid("\(field) must be a list, not \(value.kindDescription)")
        }
    }

    static func integer(_ value: JSONValue, _ field: String) throws(CollectionError) -> Int? {
        switch value {
        case .null: return nil
        case .number(let text):
            guard let v = Int(text) else { throw .invalid("\(field) must be an integer, not \(text.prefix(32))") }
            return v
        default: throw .invalid("\(field) must be an integer, not \(value.kindDescription)")
        }
    }

    static func bool(_ value: JSONValue, _ field: String) throws(CollectionError) -> Bool? {
        switch value {
        case .null: return nil
        case .bool(let b): return b
        default: throw .invalid("\(field) must be true or false, not \(value.kindDescription)")
        }
    }

    /// `embeddings`: null, or a list whose items are float lists, base64 strings of
    /// little-endian float32, or (update only) null.
    static func embeddings(_ parser: inout JSONParser, allowNull: Bool, field: String = "embeddings") throws(CollectionError) -> [[Float]?]? {
        do {
            if try parser.readNull() { return nil }
            guard parser.peekArray() else { throw CollectionError.invalid("\(field) must be a list") }
            var out: [[Float]?] = []
            var failure: CollectionError?
            try parser.readArray { (p, i) throws(JSONParser.Failure) in
                if try p.readNull() {
                    if !allowNull && failure == nil { failure = .invalid("\(field)[\(i)] is null") }
                    out.append(nil)
                } else if let text = try p.readStringIfPresent() {
                    switch Base64Floats.decode(text) {
                    case .success(let v): out.append(v)
                    case .failure(let e):
                        if failure == nil { failure = .invalid("\(field)[\(i)]: \(e.message)") }
                        out.append(nil)
                    }
                } else {
                    var v: [Float] = []
                    v.reserveCapacity(out.last??.count ?? 16)
                    try p.readFloats(into: &v)
                    out.append(v)
                }
            }
            if let failure { throw failure }
            return out
        } catch let error as CollectionError {
            throw error
        } catch let error as JSONParser.Failure {
            throw .invalid("\(field): \(error.description)")
        } catch {
            throw .invalid("\(field): \(error)")
        }
    }

    /// `query_embeddings`: a list of float lists (the client always sends JSON here; base64
    /// is read too).
    static func queryEmbeddings(_ parser: inout JSONParser, field: String = "query_embeddings") throws(CollectionError) -> [[Float]] {
        guard let vectors = try embeddings(&parser, allowNull: false, field: field) else { throw .invalid("\(field) must be a list") }
        return vectors.compactMap { $0 }
    }
}
