import Net

/// The one shape of a paged listing (documents, versions, files): `limit` (1–1000, 100 by
/// default) and an opaque `cursor` in (`PageCursor`), `{"<name>": [...], "next_cursor": "…" | null}` out.
enum Listing {
    static func limit(_ request: HTTPRequest) throws(GatewayError) -> Int {
        guard let text = request.query("limit") else { return 100 }
        guard let n = Int(text), (1...1000).contains(n) else { throw .badRequest("limit must be a whole number from 1 to 1000") }
        return n
    }

    static func send<Item>(_ name: StaticString, _ items: [Item], next: String?, _ context: RequestContext,
                           _ write: (Item, inout JSONWriter) -> Void) {
        var w = JSONWriter()
        w.raw("{\""); w.raw(name); w.raw("\":[")
        for (i, item) in items.enumerated() {
            if i > 0 { w.raw(",") }
            write(item, &w)
        }
        w.raw("],\"next_cursor\":")
        if let next { w.string(next) } else { w.raw("null") }
        w.raw("}\n")
        context.sendJSON(w.bytes)
    }
}
