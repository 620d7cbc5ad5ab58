import Net
import Storage

/// Our collections API under `/v1/collections`, in our error shape, addressed by name inside
/// the key's tenant (`default_database`):
///
///     POST   /v1/collections                      {"name","dimension","metric","m","ef_construction","ef_search","metadata"}
///     GET    /v1/collections                      → {"collections": [...]}
///     GET    /v1/collections/:name                → the collection
///     DELETE /v1/collections/:name
///     POST   /v1/collections/:name/records        {"records": [{"id","vector","metadata","document"}]}  (upsert)
///     POST   /v1/collections/:name/records/get    {"ids", "where", "where_document", "limit", "offset", "include"}
///     POST   /v1/collections/:name/records/delete {"ids"} or {"where", "where_document"}
///     GET    /v1/collections/:name/count          → {"count": n}
///     POST   /v1/collections/:name/query          {"vector" | "vectors", "k", "ef", "where", "where_document", "include"}
///
/// Bodies are strict (`ChromaBodies.read` refuses unknown members); errors are 422
/// `invalid_request` naming the field, 404 `not_found`, 409 `conflict`, 413 `batch_too_large`.
enum NativeRoutes {
    static let prefix = "/v1/collections"

    static func register(on router: RouterBuilder, operations: CollectionOperations) {
        let store = operations.store
        router.post(prefix, .role(.writer)) { context in
            respond(context, status: .created) { () throws(CollectionError) in
                let spec = try parseCreate(context.request)
                let c = try await operations.create(tenantID: context.caller.tenantID, spec, getOrCreate: false, on: context.loop)
                return json { collection(c, count: 0, into: &$0) }
            }
        }
        router.get(prefix, .role(.reader)) { context in
            respond(context) { () throws(CollectionError) in
                let list: [VectorCollection]
                do throws(StoreError) { list = try await store.collections(tenantID: context.caller.tenantID, on: context.loop) } catch { throw CollectionError(error) }
                return json { w in
                    w.raw("{\"collections\":[")
                    for (i, c) in list.enumerated() {
                        if i > 0 { w.raw(",") }
                        collection(c, count: nil, into: &w)
                    }
                    w.raw("]}")
                }
            }
        }
        router.get(prefix + "/:name", .role(.reader)) { context in
            respond(context) { () throws(CollectionError) in
                let live = try await resolve(context, operations)
                return json { collection(live.info, count: live.count, into: &$0) }
            }
        }
        router.delete(prefix + "/:name", .role(.writer)) { context in
            respond(context) { () throws(CollectionError) in
                try await operations.delete(tenantID: context.caller.tenantID, database: CollectionDatabase.defaultName,
                                            name: context.parameter("name") ?? "", on: context.loop)
                return json { $0.raw("{\"deleted\":true}") }
            }
        }
        router.post(prefix + "/:name/records", .role(.writer)) { context in
            respond(context) { () throws(CollectionError) in
                let live = try await resolve(context, operations)
                let batch = try parseRecords(context.request)
                let receipt = try await operations.write(batch, .replace, into: live, on: context.loop)
                return json { w in
                    w.raw("{\"upserted\":"); w.number(receipt.count)
                    w.raw(",\"sequence\":"); w.raw(String(receipt.lastSequence)); w.raw("}")
                }
            }
        }
        router.post(prefix + "/:name/records/get", .role(.reader)) { context in
            respond(context) { () throws(CollectionError) in
                let live = try await resolve(context, operations)
                let get = try GetRequest.parse(context.request)
                let records = try await operations.get(ids: get.ids, filter: get.filter, offset: get.offset, limit: get.limit,
                                                       include: get.include, from: live, on: context.loop)
                return json { w in
                    w.raw("{\"records\":[")
                    for (i, r) in records.enumerated() {
                        if i > 0 { w.raw(",") }
                        record(id: r.id, entry: r.entry, distance: nil, vector: r.vector, include: get.include, into: &w)
                    }
                    w.raw("]}")
                }
            }
        }
        router.post(prefix + "/:name/records/delete", .role(.writer)) { context in
            respond(context) { () throws(CollectionError) in
                let live = try await resolve(context, operations)
                let delete = try DeleteRequest.parse(context.request, allowLimit: false)
                let n = try await operations.deleteRecords(ids: delete.ids, filter: delete.filter, limit: nil, from: live, on: context.loop)
                return json { w in w.raw("{\"deleted\":"); w.number(n); w.raw("}") }
            }
        }
        router.get(prefix + "/:name/count", .role(.reader)) { context in
            respond(context) { () throws(CollectionError) in
                let live = try await resolve(context, operations)
                return json { w in w.raw("{\"count\":"); w.number(live.count); w.raw("}") }
            }
        }
        router.post(prefix + "/:name/query", .role(.reader)) { context in
            let query: NativeQuery
            do throws(CollectionError) { query = try NativeQuery.parse(context.request) } catch { return context.send(error.gatewayError) }
            if let live = operations.engine.cached(tenantID: context.caller.tenantID, database: CollectionDatabase.defaultName,
                                                   name: context.parameter("name") ?? "", on: context.loop),
               !query.include.contains(.embeddings), query.vectors.count * max(query.k, query.ef ?? live.info.efSearch) <= 4_096 {
                do throws(CollectionError) {
                    let results = try CollectionOperations.search(query.vectors, k: query.k, ef: query.ef, filter: query.filter, in: live)
                    return context.sendJSON(answer(results, query))
                } catch { return context.send(error.gatewayError) }
            }
            respond(context) { () throws(CollectionError) in
                let live = try await resolve(context, operations)
                let results = try await operations.query(query.vectors, k: query.k, ef: query.ef, filter: query.filter,
                                                         include: query.include, in: live, on: context.loop)
                return answer(results, query)
            }
        }
    }

    static func respond(_ context: RequestContext, status: HTTPStatus = .ok,
                        _ body: @escaping @Sendable () async throws(CollectionError) -> [UInt8]) {
        CollectionFlow.respond(context, status: status, shape: { $0.gatewayError }, body)
    }

    static func resolve(_ context: RequestContext, _ operations: CollectionOperations) async throws(CollectionError) -> LiveCollection {
        try await operations.engine.resolve(tenantID: context.caller.tenantID, database: CollectionDatabase.defaultName,
                                            name: context.parameter("name") ?? "", on: context.loop)
    }

    static func json(_ build: (inout JSONWriter) -> Void) -> [UInt8] { ChromaRoutes.json(build) }

    static func collection(_ c: VectorCollection, count: Int?, into w: inout JSONWriter) {
        w.raw("{\"name\":"); w.string(c.name)
        w.raw(",\"id\":"); w.string(c.uuid)
        w.raw(",\"dimension\":")
        if let d = c.dimension { w.number(d) } else { w.raw("null") }
        w.raw(",\"metric\":"); w.string(c.metric.rawValue)
        w.raw(",\"m\":"); w.number(c.m)
        w.raw(",\"ef_construction\":"); w.number(c.efConstruction)
        w.raw(",\"ef_search\":"); w.number(c.efSearch)
        w.raw(",\"metadata\":")
        if let m = c.metadata { w.raw(m) } else { w.raw("null") }
        if let count { w.raw(",\"count\":"); w.number(count) }
        w.raw(",\"created_at\":"); w.raw(String(c.createdAt))
        w.raw("}")
    }

    static func record(id: String, entry: LiveCollection.Entry, distance: Float?, vector: [Float]?, include: Include, into w: inout JSONWriter) {
        w.raw("{\"id\":"); w.string(id)
        if let distance { w.raw(",\"distance\":"); w.number(distance) }
        if include.contains(.metadatas) { w.raw(",\"metadata\":"); entry.metadata.write(into: &w) }
        if include.contains(.documents) { w.raw(",\"document\":"); ChromaJSON.document(entry.document, into: &w) }
        if include.contains(.embeddings) {
            w.raw(",\"vector\":")
            if let vector { ChromaJSON.floats(vector, into: &w) } else { w.raw("null") }
        }
        w.raw("}")
    }

    static func answer(_ results: [[Neighbour]], _ query: NativeQuery) -> [UInt8] {
        json { w in
            w.raw("{\"results\":[")
            for (i, row) in results.enumerated() {
                if i > 0 { w.raw(",") }
                w.raw("[")
                for (j, n) in row.enumerated() {
                    if j > 0 { w.raw(",") }
                    record(id: n.id, entry: n.entry, distance: n.distance, vector: n.vector, include: query.include, into: &w)
                }
                w.raw("]")
            }
            w.raw("]}")
        }
    }

    static func parseCreate(_ request: HTTPRequest) throws(CollectionError) -> CollectionSpec {
        var spec = CollectionSpec(name: "", dimension: nil, metric: .cosine)
        var sawName = false
        try ChromaBodies.read(request) { (p, key) throws(CollectionError) in
            let v = try ChromaBodies.value(&p)
            switch key {
            case "name":
                guard case .string(let s) = v else { throw .invalid("name must be a string") }
                spec.name = s
                sawName = true
            case "dimension": spec.dimension = try ChromaBodies.integer(v, "dimension")
            case "metric":
                guard case .string(let s) = v, let metric = CollectionMetric(rawValue: s) else { throw .invalid("metric must be cosine, ip or l2") }
                spec.metric = metric
            case "m": spec.m = try CreateCollection.positive(v, "m")
            case "ef_construction": spec.efConstruction = try CreateCollection.positive(v, "ef_construction")
            case "ef_search": spec.efSearch = try CreateCollection.positive(v, "ef_search")
            case "metadata": spec.metadata = v == .null ? nil : try Metadata.parse(v, at: "metadata").json
            default: return false
            }
            return true
        }
        guard sawName else { throw .invalid("name is required") }
        try CreateCollection.checkName(spec.name)
        return spec
    }

    /// `{"records": [{"id", "vector", "metadata", "document"}]}`, read into columns.
    static func parseRecords(_ request: HTTPRequest) throws(CollectionError) -> RecordBatch {
        var batch = RecordBatch(ids: [], vectors: [], metadatas: [], documents: [])
        var sawRecords = false
        try ChromaBodies.read(request) { (p, key) throws(CollectionError) in
            guard key == "records" else { return false }
            sawRecords = true
            var failure: CollectionError?
            do throws(JSONParser.Failure) {
                try p.readArray { (p, i) throws(JSONParser.Failure) in
                    var id: String?, vector: [Float]?, metadata: JSONValue = .null, document: String?
                    var seen = Set<String>()
                    try p.beginObject()
                    while let member = try p.nextMember() {
                        if !seen.insert(member).inserted, failure == nil { failure = .invalid("records[\(i)] names '\(member.prefix(32))' twice") }
                        switch member {
                        case "id":
                            if let s = try p.readStringIfPresent() { id = s } else {
                                _ = try p.readValue()
                                if failure == nil { failure = .invalid("records[\(i)].id must be a string") }
                            }
                        case "vector":
                            if p.peekArray() {
                                var v: [Float] = []
                                try p.readFloats(into: &v)
                                vector = v
                            } else {
                                _ = try p.readValue()
                                if failure == nil { failure = .invalid("records[\(i)].vector must be a list of numbers") }
                            }
                        case "metadata": metadata = try p.readValue()
                        case "document":
                            let v = try p.readValue()
                            switch v {
                            case .null: document = nil
                            case .string(let s): document = s
                            default: if failure == nil { failure = .invalid("records[\(i)].document must be a string or null") }
                            }
                        default:
                            _ = try p.readValue()
                            if failure == nil { failure = .invalid("records[\(i)]: unknown field '\(member.prefix(32))'") }
                        }
                    }
                    if failure == nil, id == nil { failure = .invalid("records[\(i)].id is required") }
                    if failure == nil, vector == nil { failure = .invalid("records[\(i)].vector is required") }
                    batch.ids.append(id ?? "")
                    batch.vectors!.append(vector)
                    batch.metadatas!.append(metadata)
                    batch.documents!.append(document)
                }
            } catch {
                throw .malformed("the body is not valid JSON: \(error.description)")
            }
            if let failure { throw failure }
            return true
        }
        guard sawRecords else { throw .invalid("records is required") }
        return batch
    }
}

/// `POST /v1/collections/:name/query`: one `vector` or several `vectors`, `k` (default 10),
/// `ef`, `where`, `where_document`, `include` (default metadatas and documents).
struct NativeQuery {
    var vectors: [[Float]] = []
    var k = 10
    var ef: Int?
    var filter: RecordFilter?
    var include: Include = [.metadatas, .documents]

    static func parse(_ request: HTTPRequest) throws(CollectionError) -> NativeQuery {
        var query = NativeQuery()
        var metadataFilter: RecordFilter?
        var documentFilter: RecordFilter?
        var sawVector = false
        try ChromaBodies.read(request) { (p, key) throws(CollectionError) in
            switch key {
            case "vector":
                guard !sawVector else { throw .invalid("give vector or vectors, not both") }
                var v: [Float] = []
                do throws(JSONParser.Failure) { try p.readFloats(into: &v) } catch { throw .invalid("vector: \(error.description)") }
                query.vectors = [v]
                sawVector = true
                return true
            case "vectors":
                guard !sawVector else { throw .invalid("give vector or vectors, not both") }
                query.vectors = try ChromaBodies.queryEmbeddings(&p, field: "vectors")
                sawVector = true
                return true
            default: break
            }
            let v = try ChromaBodies.value(&p)
            switch key {
            case "k": query.k = try ChromaBodies.integer(v, "k") ?? 10
            case "ef": query.ef = try ChromaBodies.integer(v, "ef")
            case "where": metadataFilter = try RecordFilter.metadata(v)
            case "where_document": documentFilter = try RecordFilter.document(v)
            case "include": query.include = try Include.parse(v, default: [.metadatas, .documents], allowDistances: true)
            default: return false
            }
            return true
        }
        guard sawVector else { throw .invalid("vector (or vectors) is required") }
        try CollectionOperations.checkQuery(query.vectors, k: query.k, ef: query.ef)
        query.filter = RecordFilter.combine(metadataFilter, documentFilter)
        return query
    }
}
