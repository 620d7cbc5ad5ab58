import Net

/// How a collection route that needs more than one step answers: `body` runs as a
/// straight-line flow on the request's loop; its JSON is sent on success, its error in the
/// route's surface's shape (ours, or Chroma's) on failure.
enum CollectionFlow {
    static func respond(_ context: RequestContext, status: HTTPStatus, shape: @escaping @Sendable (CollectionError) -> any ErrorResponse,
                        _ body: @escaping @Sendable () async throws(CollectionError) -> [UInt8]) {
        context.loop.spawn {
            do throws(CollectionError) {
                context.sendJSON(status: status, try await body())
            } catch {
                context.send(shape(error))
            }
        }
    }
}

/// `POST …/delete` on either surface: `{"ids", "where", "where_document"}`, and Chroma's `limit`.
struct DeleteRequest {
    var ids: [String]?
    var filter: RecordFilter?
    var limit: Int?

    static func parse(_ request: HTTPRequest, allowLimit: Bool) throws(CollectionError) -> DeleteRequest {
        var delete = DeleteRequest()
        var metadataFilter: RecordFilter?
        var documentFilter: RecordFilter?
        try ChromaBodies.read(request) { (p, key) throws(CollectionError) in
            let v = try ChromaBodies.value(&p)
            switch key {
            case "ids": delete.ids = try ChromaBodies.strings(v, "ids")
            case "where": metadataFilter = try RecordFilter.metadata(v)
            case "where_document": documentFilter = try RecordFilter.document(v)
            case "limit" where allowLimit:
                delete.limit = try ChromaBodies.integer(v, "limit")
                if let limit = delete.limit, limit < 0 { throw .invalid("limit must not be negative") }
            default: return false
            }
            return true
        }
        delete.filter = RecordFilter.combine(metadataFilter, documentFilter)
        return delete
    }
}
