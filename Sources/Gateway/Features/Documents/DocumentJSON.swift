import Net
import Storage

/// Documents and versions as JSON, and the bodies that write them: strict (unknown fields,
/// wrong types and metadata that is not an object are 400), content types from the Store's
/// set, metadata kept as the object the client sent.
enum DocumentJSON {
    /// What a `POST` or `PUT` carries.
    struct Content {
        var title: String
        var content: String
        var contentType: String
        /// The metadata object as JSON text.
        var metadata: String
    }

    static func object(_ request: HTTPRequest) throws(GatewayError) -> JSONObject {
        let parsed = request.withBody { bytes in Result { () throws(JSONParser.Failure) -> JSONValue in try JSONParser.parse(bytes) } }
        let value: JSONValue
        switch parsed {
        case .success(let v): value = v
        case .failure(let error): throw GatewayError(.badRequest, "invalid_json", "the body is not valid JSON: \(error.description)")
        }
        guard case .object(let object) = value else { throw .badRequest("the body must be a JSON object") }
        return object
    }

    static func refuseUnknown(_ object: JSONObject, allowed: Set<String>) throws(GatewayError) {
        for key in object.keys where !allowed.contains(key) {
            throw .badRequest("unknown field '\(key)'; allowed: \(allowed.sorted().joined(separator: ", "))")
        }
    }

    static func string(_ object: JSONObject, _ key: String, required: Bool) throws(GatewayError) -> String? {
        switch object[key] {
        case nil, .null?:
            if required { throw .badRequest("'\(key)' is required") }
            return nil
        case .string(let s)?: return s
        case let other?: throw .badRequest("'\(key)' must be a string, not \(other.kindDescription)")
        }
    }

    static func metadataText(_ value: JSONValue?) throws(GatewayError) -> String? {
        switch value {
        case nil, .null?: return nil
        case .object(let o)?:
            var w = JSONWriter()
            JSONValueWriter.write(.object(o), into: &w)
            return String(decoding: w.bytes, as: UTF8.self)
        case let other?: throw .badRequest("'metadata' must be an object, not \(other.kindDescription)")
        }
    }

    static func content(_ request: HTTPRequest) throws(GatewayError) -> Content {
        let object = try object(request)
        try refuseUnknown(object, allowed: ["title", "content", "content_type", "metadata"])
        let title = try string(object, "title", required: true)!
        let content = try string(object, "content", required: true)!
        let contentType = try string(object, "content_type", required: false) ?? "text/markdown"
        guard Store.documentContentTypes.contains(contentType) else {
            throw .badRequest("'content_type' must be text/markdown, text/plain or text/html")
        }
        return Content(title: title, content: content, contentType: contentType, metadata: try metadataText(object["metadata"]) ?? "{}")
    }

    /// RFC 7396: `patch`'s members replace the target's, `null` removes one, objects merge.
    static func mergePatch(_ target: JSONValue, _ patch: JSONValue) -> JSONValue {
        guard case .object(let p) = patch else { return patch }
        var result = JSONObject()
        if case .object(let t) = target {
            for key in t.keys where p[key] == nil { result.set(key, t[key]!) }
            for key in t.keys where p[key] != nil && p[key] != .null { result.set(key, mergePatch(t[key]!, p[key]!)) }
        }
        for key in p.keys where result[key] == nil && p[key] != .null { result.set(key, mergePatch(.null, p[key]!)) }
        return .object(result)
    }

    static func write(_ d: Document, into w: inout JSONWriter) {
        w.raw("{\"id\":"); w.raw(String(d.id))
        w.raw(",\"title\":"); w.string(d.title)
        w.raw(",\"content\":"); w.string(d.body)
        w.raw(",\"content_type\":"); w.string(d.contentType)
        w.raw(",\"metadata\":"); w.raw(d.metadata)
        w.raw(",\"version\":"); w.raw(String(d.version))
        w.raw(",\"created_at\":"); w.raw(String(d.createdAt))
        w.raw(",\"updated_at\":"); w.raw(String(d.updatedAt))
        w.raw("}")
    }

    static func write(_ v: DocumentVersion, into w: inout JSONWriter) {
        w.raw("{\"document_id\":"); w.raw(String(v.documentID))
        w.raw(",\"version\":"); w.raw(String(v.version))
        w.raw(",\"title\":"); w.string(v.title)
        w.raw(",\"content\":"); w.string(v.body)
        w.raw(",\"content_type\":"); w.string(v.contentType)
        w.raw(",\"metadata\":"); w.raw(v.metadata)
        w.raw(",\"created_at\":"); w.raw(String(v.createdAt))
        w.raw("}")
    }
}
