import Net

/// What names an answer in the exact cache: SHA-256 of the request's canonical JSON, scoped by
/// tenant, route and answer shape (whole or stream).
///
/// Canonical means two requests that mean the same are one key: object members sorted by
/// name, no whitespace, numbers by value (`0`, `0.0` and `0e0` are one number; integers up to
/// 2^53 print as integers, others in the shortest form that reads back as the same double),
/// strings re-escaped one way. `stream`, `stream_options` and `user` are left out: they change
/// the delivery or the attribution, not the answer (the shape is in the scope instead, since a
/// stream is replayed as the chunks it came in).
struct CacheKey: Hashable, Sendable {
    let digest: [UInt8]

    static let ignored: Set<String> = ["stream", "stream_options", "user"]

    init(tenantID: String, kind: AIRequest.Kind, stream: Bool, object: JSONObject) {
        var w = JSONWriter(capacity: 512)
        w.raw(kind == .chat ? "chat\u{0}" : "embeddings\u{0}")
        w.raw(stream ? "stream\u{0}" : "whole\u{0}")
        w.raw(tenantID)
        w.raw("\u{0}")
        CacheKey.canonical(.object(object), top: true, into: &w)
        digest = w.bytes.withUnsafeBytes { Digests.sha256($0) }
    }

    static func canonical(_ value: JSONValue, top: Bool = false, into w: inout JSONWriter) {
        switch value {
        case .null: w.raw("null")
        case .bool(let b): w.bool(b)
        case .string(let s): w.string(s)
        case .number(let text):
            if let d = Double(text), d.isFinite {
                if d == d.rounded(), abs(d) < 9_007_199_254_740_992 { w.raw(String(Int64(d))) } else { w.raw("\(d)") }
            } else {
                w.raw(text)
            }
        case .array(let items):
            w.raw("[")
            for (i, item) in items.enumerated() {
                if i > 0 { w.raw(",") }
                canonical(item, into: &w)
            }
            w.raw("]")
        case .object(let object):
            w.raw("{")
            var first = true
            for key in object.keys.sorted() where !(top && ignored.contains(key)) {
                if !first { w.raw(",") }
                first = false
                w.string(key)
                w.raw(":")
                canonical(object[key]!, into: &w)
            }
            w.raw("}")
        }
    }

    /// Whether a request's answer is worth keeping: embeddings always (a model maps a text to
    /// one vector), chat when it is deterministic — `temperature` 0 or a `seed` — or when the
    /// client opts in with `X-AIWriter-Cache: use`; `X-AIWriter-Cache: bypass` opts out.
    static func cacheable(_ request: AIRequest, header: String?) -> Bool {
        switch header?.lowercased() {
        case "bypass"?, "no-store"?: return false
        case "use"?, "force"?: return true
        default: break
        }
        if request.kind == .embeddings { return true }
        if case .number(let t)? = request.object["temperature"], Double(t) == 0 { return true }
        if case .number? = request.object["seed"] { return true }
        return false
    }
}
