import Net
import Storage

/// Chroma's data plane: `…/collections/{uuid}/add|upsert|update|delete|get|query|count`.
/// A query on a collection this loop has loaded runs without leaving the request's turn: body
/// read straight into floats, search, answer written — no task, no database round trip.
enum ChromaRecordRoutes {
    static func register(on router: RouterBuilder, operations: CollectionOperations) {
        let path = ChromaRoutes.collection
        for kind in [WriteKind.add, .upsert, .update] {
            router.post(path + "/" + kind.rawValue, .role(.writer)) { context in
                ChromaRoutes.respond(context, status: kind == .add ? .created : .ok) { () throws(CollectionError) in
                    let live = try await resolve(context, operations)
                    let batch = try parseBatch(context.request, kind: kind)
                    _ = try await operations.write(batch, kind, into: live, on: context.loop)
                    return ChromaRoutes.json { $0.raw("{}") }
                }
            }
        }
        router.post(path + "/delete", .role(.writer)) { context in
            ChromaRoutes.respond(context) { () throws(CollectionError) in
                let live = try await resolve(context, operations)
                let delete = try DeleteRequest.parse(context.request, allowLimit: true)
                let n = try await operations.deleteRecords(ids: delete.ids, filter: delete.filter, limit: delete.limit,
                                                           from: live, on: context.loop)
                return ChromaRoutes.json { w in w.raw("{\"deleted\":"); w.number(n); w.raw("}") }
            }
        }
        router.get(path + "/count", .role(.reader)) { context in
            if let readLevel = context.request.query("read_level"),
               !["index_and_wal", "index_only", "index_and_bounded_wal"].contains(readLevel) {
                return context.send(ChromaError(.invalid("read_level must be index_and_wal, index_only or index_and_bounded_wal")))
            }
            ChromaRoutes.respond(context) { () throws(CollectionError) in
                let live = try await resolve(context, operations)
                return ChromaRoutes.json { $0.number(live.count) }
            }
        }
        router.post(path + "/get", .role(.reader)) { context in
            ChromaRoutes.respond(context) { () throws(CollectionError) in
                let live = try await resolve(context, operations)
                let get = try GetRequest.parse(context.request)
                let records = try await operations.get(ids: get.ids, filter: get.filter, offset: get.offset, limit: get.limit,
                                                       include: get.include, from: live, on: context.loop)
                return ChromaJSON.get(records, include: get.include)
            }
        }
        router.post(path + "/query", .role(.reader)) { context in
            let query: QueryRequest
            do throws(CollectionError) { query = try QueryRequest.parse(context.request) } catch { return context.send(ChromaError(error)) }
            // The fast path: loaded here, nothing to fetch, a small search.
            if let tenant = try? ChromaRoutes.tenant(context), let id = try? ChromaRoutes.uuid(context),
               let live = operations.engine.cached(tenantID: tenant, database: context.parameter("database"), uuid: id, on: context.loop),
               !query.include.contains(.embeddings),
               query.vectors.count * max(query.k, live.info.efSearch) <= 4_096 {
                do throws(CollectionError) {
                    try CollectionOperations.checkQuery(query.vectors, k: query.k, ef: nil)
                    let results = try CollectionOperations.search(query.vectors, k: query.k, ef: nil, filter: query.filter, in: live)
                    return context.sendJSON(ChromaJSON.query(results, include: query.include))
                } catch { return context.send(ChromaError(error)) }
            }
            ChromaRoutes.respond(context) { () throws(CollectionError) in
                let live = try await resolve(context, operations)
                let results = try await operations.query(query.vectors, k: query.k, ef: nil, filter: query.filter,
                                                         include: query.include, in: live, on: context.loop)
                return ChromaJSON.query(results, include: query.include)
            }
        }
    }

    static func resolve(_ context: RequestContext, _ operations: CollectionOperations) async throws(CollectionError) -> LiveCollection {
        let tenant = try ChromaRoutes.tenant(context)
        return try await operations.engine.resolve(tenantID: tenant, database: context.parameter("database"),
                                                   uuid: try ChromaRoutes.uuid(context), on: context.loop)
    }

    /// `{"ids", "embeddings", "metadatas", "documents", "uris"}`.
    static func parseBatch(_ request: HTTPRequest, kind: WriteKind) throws(CollectionError) -> RecordBatch {
        var batch = RecordBatch()
        var sawIDs = false
        try ChromaBodies.read(request) { (p, key) throws(CollectionError) in
            switch key {
            case "ids":
                batch.ids = try ChromaBodies.strings(try ChromaBodies.value(&p), "ids") ?? []
                sawIDs = true
            case "embeddings":
                batch.vectors = try ChromaBodies.embeddings(&p, allowNull: kind == .update)
            case "metadatas":
                let v = try ChromaBodies.value(&p)
                switch v {
                case .null: batch.metadatas = nil
                case .array(let items): batch.metadatas = items
                default: throw .invalid("metadatas must be a list")
                }
            case "documents":
                batch.documents = try ChromaBodies.optionalStrings(try ChromaBodies.value(&p), "documents")
            case "uris":
                // URIs are not stored: refuse them rather than drop them.
                let v = try ChromaBodies.value(&p)
                if case .array(let items) = v, items.contains(where: { $0 != .null }) {
                    throw .invalid("uris are not supported by this server")
                }
            default:
                return false
            }
            return true
        }
        guard sawIDs else { throw .invalid("ids is required") }
        return batch
    }
}

/// `POST …/get`: `{"ids", "where", "where_document", "limit", "offset", "include"}`.
struct GetRequest {
    var ids: [String]?
    var filter: RecordFilter?
    var limit: Int?
    var offset = 0
    var include = Include.defaultGet

    static func parse(_ request: HTTPRequest) throws(CollectionError) -> GetRequest {
        var get = GetRequest()
        var metadataFilter: RecordFilter?
        var documentFilter: RecordFilter?
        try ChromaBodies.read(request) { (p, key) throws(CollectionError) in
            let v = try ChromaBodies.value(&p)
            switch key {
            case "ids": get.ids = try ChromaBodies.strings(v, "ids")
            case "where": metadataFilter = try RecordFilter.metadata(v)
            case "where_document": documentFilter = try RecordFilter.document(v)
            case "limit":
                get.limit = try ChromaBodies.integer(v, "limit")
                if let limit = get.limit, limit < 0 { throw .invalid("limit must not be negative") }
            case "offset":
                get.offset = try ChromaBodies.integer(v, "offset") ?? 0
                if get.offset < 0 { throw .invalid("offset must not be negative") }
            case "include": get.include = try Include.parse(v, default: .defaultGet, allowDistances: false)
            case "read_level": try QueryRequest.checkReadLevel(v)
            default: return false
            }
            return true
        }
        get.filter = RecordFilter.combine(metadataFilter, documentFilter)
        return get
    }
}

/// `POST …/query`: `{"ids", "query_embeddings", "n_results", "where", "where_document", "include"}`.
struct QueryRequest {
    var vectors: [[Float]] = []
    var k = 10
    var filter: RecordFilter?
    var include = Include.defaultQuery

    static func parse(_ request: HTTPRequest) throws(CollectionError) -> QueryRequest {
        var query = QueryRequest()
        var ids: [String]?
        var metadataFilter: RecordFilter?
        var documentFilter: RecordFilter?
        var sawVectors = false
        try ChromaBodies.read(request) { (p, key) throws(CollectionError) in
            switch key {
            case "query_embeddings":
                query.vectors = try ChromaBodies.queryEmbeddings(&p)
                sawVectors = true
                return true
            default: break
            }
            let v = try ChromaBodies.value(&p)
            switch key {
            case "ids": ids = try ChromaBodies.strings(v, "ids")
            case "n_results":
                guard let k = try ChromaBodies.integer(v, "n_results") else { return true }
                query.k = k
            case "where": metadataFilter = try RecordFilter.metadata(v)
            case "where_document": documentFilter = try RecordFilter.document(v)
            case "include": query.include = try Include.parse(v, default: .defaultQuery, allowDistances: true)
            case "read_level": try checkReadLevel(v)
            default: return false
            }
            return true
        }
        guard sawVectors, !query.vectors.isEmpty else { throw .invalid("query_embeddings must hold at least one embedding") }
        try CollectionOperations.checkQuery(query.vectors, k: query.k, ef: nil)
        var filter = RecordFilter.combine(metadataFilter, documentFilter)
        if let ids { filter = RecordFilter.combine(.ids(Set(ids)), filter) }
        query.filter = filter
        return query
    }

    static func checkReadLevel(_ v: JSONValue) throws(CollectionError) {
        switch v {
        case .null: return
        case .string(let s) where ["index_and_wal", "index_only", "index_and_bounded_wal"].contains(s): return
        default: throw .invalid("read_level must be index_and_wal, index_only or index_and_bounded_wal")
        }
    }
}
