import Net
import Storage

/// Chroma's v2 HTTP API under `/api/v2`, so `chromadb.HttpClient` (1.5.9) works unchanged
/// against the gateway: `headers={"Authorization": "Bearer aiw_…"}` is the only change a
/// user makes. The key's tenant is the Chroma tenant (`default_tenant` in a path means it);
/// every data-plane route checks the tenant *and* the database of the collection it names,
/// so another tenant's collection is not found by name or by UUID (Chroma #7462, #7588).
/// Readers may get, count and query; writers may also write.
enum ChromaRoutes {
    static let prefix = "/api/v2"
    static let database = prefix + "/tenants/:tenant/databases/:database"
    static let collection = database + "/collections/:collection"
    /// The Chroma version the routes follow (what `client.get_version()` shows).
    static let version = "1.5.9"

    static func register(on router: RouterBuilder, operations: CollectionOperations, services: GatewayServices) {
        router.errors(under: prefix) { ChromaError($0) }
        registerSystem(on: router, operations: operations, services: services)
        registerTenantsAndDatabases(on: router, operations: operations)
        registerCollections(on: router, operations: operations)
        ChromaRecordRoutes.register(on: router, operations: operations)
    }

    // MARK: Helpers shared by the Chroma routes

    /// Runs `body` as a straight-line flow on the request's loop and answers with its JSON,
    /// or with its error in Chroma's shape.
    static func respond(_ context: RequestContext, status: HTTPStatus = .ok,
                        _ body: @escaping @Sendable () async throws(CollectionError) -> [UInt8]) {
        CollectionFlow.respond(context, status: status, shape: { ChromaError($0) }, body)
    }

    /// The caller's tenant for the `:tenant` in the path: `default_tenant` or its own id;
    /// any other tenant does not exist for it.
    static func tenant(_ context: RequestContext) throws(CollectionError) -> String {
        let named = context.parameter("tenant") ?? ""
        let own = context.caller.tenantID
        guard named == "default_tenant" || named == own else { throw .notFound("tenant \"\(named.prefix(64))\" not found") }
        return own
    }

    static func json(_ build: (inout JSONWriter) -> Void) -> [UInt8] {
        var w = JSONWriter()
        build(&w)
        w.raw("\n")
        return w.bytes
    }

    static func pagination(_ request: HTTPRequest) throws(CollectionError) -> (limit: Int, offset: Int) {
        func number(_ name: String, _ fallback: Int) throws(CollectionError) -> Int {
            guard let text = request.query(name) else { return fallback }
            guard let v = Int(text), v >= 0 else { throw .invalid("\(name) must be a non-negative integer") }
            return v
        }
        return (try number("limit", 100_000), try number("offset", 0))
    }

    // MARK: System

    static func registerSystem(on router: RouterBuilder, operations: CollectionOperations, services: GatewayServices) {
        let heartbeat: RouteHandler = { context in
            context.sendJSON(json { w in
                w.raw("{\"nanosecond heartbeat\":"); w.raw(String(Store.now * 1_000_000)); w.raw("}")
            })
        }
        router.get(prefix, .limited, heartbeat)
        router.get(prefix + "/heartbeat", .limited, heartbeat)
        router.get(prefix + "/version", .limited) { context in
            context.sendJSON(json { $0.string(version) })
        }
        router.get(prefix + "/healthcheck", .limited) { context in
            let draining = services.lifecycle.isDraining
            context.sendJSON(status: draining ? .serviceUnavailable : .ok, json { w in
                w.raw(draining ? "{\"is_executor_ready\":false}" : "{\"is_executor_ready\":true}")
            })
        }
        router.get(prefix + "/pre-flight-checks", .limited) { context in
            context.sendJSON(json { w in
                w.raw("{\"max_batch_size\":"); w.number(operations.maxBatchSize)
                w.raw(",\"supports_base64_encoding\":true}")
            })
        }
        router.get(prefix + "/auth/identity", .role(.reader)) { context in
            context.sendJSON(json { w in
                w.raw("{\"user_id\":"); w.string(context.caller.keyID)
                w.raw(",\"tenant\":"); w.string(context.caller.tenantID)
                w.raw(",\"databases\":[\"*\"]}")
            })
        }
        // Deletes every collection of the caller's tenant, only where the operator allowed it.
        router.post(prefix + "/reset", .role(.admin)) { context in
            guard services.configuration.collections.allowReset else {
                return context.send(ChromaError(.forbidden, "AuthorizationError",
                                                "reset is disabled; start the gateway with chroma-allow-reset=true to allow it"))
            }
            respond(context) { () throws(CollectionError) in
                let tenant = context.caller.tenantID
                do throws(StoreError) {
                    for database in try await operations.store.databases(tenantID: tenant, on: context.loop) {
                        for c in try await operations.store.collections(tenantID: tenant, database: database.name, on: context.loop) {
                            try await operations.store.deleteCollection(tenantID: tenant, database: database.name, name: c.name, on: context.loop)
                            operations.engine.drop(uuid: c.uuid)
                        }
                        if database.name != CollectionDatabase.defaultName {
                            try await operations.store.deleteDatabase(tenantID: tenant, name: database.name, on: context.loop)
                        }
                    }
                } catch { throw CollectionError(error) }
                return json { $0.raw("true") }
            }
        }
    }

    // MARK: Tenants and databases

    static func registerTenantsAndDatabases(on router: RouterBuilder, operations: CollectionOperations) {
        let store = operations.store
        // Tenants are made by operators (`aiwriter tenants create`), each with its own keys.
        router.post(prefix + "/tenants", .role(.admin)) { context in
            context.send(ChromaError(.forbidden, "AuthorizationError", "tenants are created by the operator, with their own keys"))
        }
        router.get(prefix + "/tenants/:tenant", .role(.reader)) { context in
            do throws(CollectionError) {
                _ = try tenant(context)
                let name = context.parameter("tenant") ?? ""
                context.sendJSON(json { w in w.raw("{\"name\":"); w.string(name); w.raw(",\"resource_name\":null}") })
            } catch { context.send(ChromaError(error)) }
        }
        router.get(prefix + "/tenants/:tenant/databases", .role(.reader)) { context in
            respond(context) { () throws(CollectionError) in
                let own = try tenant(context)
                let (limit, offset) = try pagination(context.request)
                let databases: [CollectionDatabase]
                do throws(StoreError) { databases = try await store.databases(tenantID: own, on: context.loop) } catch { throw CollectionError(error) }
                let named = context.parameter("tenant") ?? ""
                return json { w in
                    w.raw("[")
                    for (i, d) in databases.dropFirst(offset).prefix(limit).enumerated() {
                        if i > 0 { w.raw(",") }
                        database(d, tenant: named, into: &w)
                    }
                    w.raw("]")
                }
            }
        }
        router.post(prefix + "/tenants/:tenant/databases", .role(.writer)) { context in
            respond(context) { () throws(CollectionError) in
                let own = try tenant(context)
                var name: String?
                try ChromaBodies.read(context.request) { (p, key) throws(CollectionError) in
                    guard key == "name" else { return false }
                    guard case .string(let s) = try ChromaBodies.value(&p) else { throw .invalid("name must be a string") }
                    name = s
                    return true
                }
                guard let name else { throw .invalid("name is required") }
                do throws(StoreError) { _ = try await store.createDatabase(tenantID: own, name: name, on: context.loop) } catch { throw CollectionError(error) }
                return json { $0.raw("{}") }
            }
        }
        router.get(database, .role(.reader)) { context in
            respond(context) { () throws(CollectionError) in
                let own = try tenant(context)
                let d: CollectionDatabase
                do throws(StoreError) { d = try await store.database(tenantID: own, name: context.parameter("database") ?? "", on: context.loop) } catch { throw CollectionError(error) }
                return json { database(d, tenant: context.parameter("tenant") ?? "", into: &$0) }
            }
        }
        router.delete(database, .role(.writer)) { context in
            respond(context) { () throws(CollectionError) in
                let own = try tenant(context)
                let name = context.parameter("database") ?? ""
                let doomed: [VectorCollection]
                do throws(StoreError) {
                    doomed = try await store.collections(tenantID: own, database: name, on: context.loop)
                    try await store.deleteDatabase(tenantID: own, name: name, on: context.loop)
                } catch { throw CollectionError(error) }
                for c in doomed { operations.engine.drop(uuid: c.uuid) }
                return json { $0.raw("{}") }
            }
        }
    }

    static func database(_ d: CollectionDatabase, tenant: String, into w: inout JSONWriter) {
        w.raw("{\"id\":"); w.string(d.uuid)
        w.raw(",\"name\":"); w.string(d.name)
        w.raw(",\"tenant\":"); w.string(tenant)
        w.raw("}")
    }

    // MARK: Collections

    static func registerCollections(on router: RouterBuilder, operations: CollectionOperations) {
        let store = operations.store
        router.get(database + "/collections", .role(.reader)) { context in
            respond(context) { () throws(CollectionError) in
                let own = try tenant(context)
                let (limit, offset) = try pagination(context.request)
                let db = context.parameter("database") ?? ""
                let list: [VectorCollection]
                do throws(StoreError) {
                    _ = try await store.database(tenantID: own, name: db, on: context.loop)
                    list = try await store.collections(tenantID: own, database: db, limit: limit, offset: offset, on: context.loop)
                } catch { throw CollectionError(error) }
                let named = context.parameter("tenant") ?? ""
                return json { w in
                    w.raw("[")
                    for (i, c) in list.enumerated() {
                        if i > 0 { w.raw(",") }
                        ChromaJSON.collection(c, tenant: named, into: &w)
                    }
                    w.raw("]")
                }
            }
        }
        router.get(database + "/collections_count", .role(.reader)) { context in
            respond(context) { () throws(CollectionError) in
                let own = try tenant(context)
                let db = context.parameter("database") ?? ""
                let n: Int
                do throws(StoreError) {
                    _ = try await store.database(tenantID: own, name: db, on: context.loop)
                    n = try await store.countCollections(tenantID: own, database: db, on: context.loop)
                } catch { throw CollectionError(error) }
                return json { $0.number(n) }
            }
        }
        router.post(database + "/collections", .role(.writer)) { context in
            respond(context) { () throws(CollectionError) in
                let own = try tenant(context)
                let request = try CreateCollection.parse(context.request, database: context.parameter("database") ?? "")
                let c = try await operations.create(tenantID: own, request.spec, getOrCreate: request.getOrCreate, on: context.loop)
                return json { ChromaJSON.collection(c, tenant: context.parameter("tenant") ?? "", into: &$0) }
            }
        }
        router.get(database + "/collections/:collection", .role(.reader)) { context in
            respond(context) { () throws(CollectionError) in
                let own = try tenant(context)
                let c: VectorCollection
                do throws(StoreError) {
                    c = try await store.collection(tenantID: own, database: context.parameter("database") ?? "",
                                                   name: context.parameter("collection") ?? "", on: context.loop)
                } catch { throw CollectionError(error) }
                return json { ChromaJSON.collection(c, tenant: context.parameter("tenant") ?? "", into: &$0) }
            }
        }
        router.get(database + "/collections/by-id/:collection", .role(.reader)) { context in
            respond(context) { () throws(CollectionError) in
                let own = try tenant(context)
                let live = try await operations.engine.resolve(tenantID: own, database: context.parameter("database"),
                                                               uuid: try uuid(context), on: context.loop)
                return json { ChromaJSON.collection(live.info, tenant: context.parameter("tenant") ?? "", into: &$0) }
            }
        }
        router.delete(database + "/collections/:collection", .role(.writer)) { context in
            respond(context) { () throws(CollectionError) in
                let own = try tenant(context)
                try await operations.delete(tenantID: own, database: context.parameter("database") ?? "",
                                            name: context.parameter("collection") ?? "", on: context.loop)
                return json { $0.raw("{}") }
            }
        }
        // modify: rename, replace metadata, change ef_search.
        router.put(database + "/collections/:collection", .role(.writer)) { context in
            respond(context) { () throws(CollectionError) in
                let own = try tenant(context)
                let id = try uuid(context)
                let live = try await operations.engine.resolve(tenantID: own, database: context.parameter("database"), uuid: id, on: context.loop)
                let change = try ModifyCollection.parse(context.request)
                _ = try await operations.modify(tenantID: own, uuid: live.uuid, name: change.name, metadata: change.metadata,
                                                efSearch: change.efSearch, on: context.loop)
                return json { $0.raw("{}") }
            }
        }
    }

    /// The `:collection` of a data-plane path as a UUID (lowercase canonical form).
    static func uuid(_ context: RequestContext) throws(CollectionError) -> String {
        // On the query fast path: checked in place, no copy unless it has capitals.
        let text = context.parameter("collection") ?? ""
        var upper = false
        var i = 0
        var valid = text.utf8.count == 36
        for c in text.utf8 where valid {
            if i == 8 || i == 13 || i == 18 || i == 23 {
                valid = c == UInt8(ascii: "-")
            } else if c >= 0x41 && c <= 0x46 {
                upper = true
            } else {
                valid = (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66)
            }
            i += 1
        }
        guard valid else { throw .invalid("\"\(text.prefix(64))\" is not a collection UUID") }
        return upper ? text.lowercased() : text
    }
}

/// `POST …/collections`: `{"name", "metadata", "configuration", "schema", "get_or_create"}`.
/// The index's space and parameters come from `configuration.hnsw` or, as older clients set
/// them, from `hnsw:space`, `hnsw:M`, `hnsw:construction_ef`, `hnsw:search_ef` in metadata.
struct CreateCollection {
    var spec: CollectionSpec
    var getOrCreate = false

    static func parse(_ request: HTTPRequest, database: String) throws(CollectionError) -> CreateCollection {
        var name: String?
        var metadata: JSONValue = .null
        var configuration: JSONValue = .null
        var getOrCreate = false
        try ChromaBodies.read(request) { (p, key) throws(CollectionError) in
            let v = try ChromaBodies.value(&p)
            switch key {
            case "name":
                guard case .string(let s) = v else { throw .invalid("name must be a string") }
                name = s
            case "metadata": metadata = v
            case "configuration": configuration = v
            case "schema": break
            case "get_or_create": getOrCreate = try ChromaBodies.bool(v, "get_or_create") ?? false
            default: return false
            }
            return true
        }
        guard let name else { throw .invalid("name is required") }
        try checkName(name)
        var spec = CollectionSpec(database: database, name: name, dimension: nil, metric: .l2, m: 16, efConstruction: 100, efSearch: 100)
        if metadata != .null {
            let parsed = try Metadata.parse(metadata, at: "metadata")
            if let space = parsed["hnsw:space"] { spec.metric = try metric(space) }
            if case .int(let m)? = parsed["hnsw:M"] { spec.m = Int(clamping: m) }
            if case .int(let ef)? = parsed["hnsw:construction_ef"] { spec.efConstruction = Int(clamping: ef) }
            if case .int(let ef)? = parsed["hnsw:search_ef"] { spec.efSearch = Int(clamping: ef) }
            spec.metadata = parsed.isEmpty ? nil : parsed.json
        }
        switch configuration {
        case .null: break
        case .object(let object):
            for key in object.keys where !["hnsw", "spann", "embedding_function"].contains(key) {
                throw .invalid("configuration: unknown key '\(key.prefix(32))'")
            }
            if let spann = object["spann"], spann != .null { throw .invalid("configuration.spann is not supported; use hnsw") }
            if let hnsw = object["hnsw"], hnsw != .null {
                guard case .object(let h) = hnsw else { throw .invalid("configuration.hnsw must be an object") }
                for key in h.keys {
                    let v = h[key]!
                    switch key {
                    case "space":
                        guard case .string(let s) = v else { throw .invalid("configuration.hnsw.space must be a string") }
                        spec.metric = try metric(.string(s))
                    case "ef_construction": spec.efConstruction = try positive(v, "configuration.hnsw.ef_construction")
                    case "max_neighbors": spec.m = try positive(v, "configuration.hnsw.max_neighbors")
                    case "ef_search": spec.efSearch = try positive(v, "configuration.hnsw.ef_search")
                    case "num_threads", "batch_size", "sync_threshold", "resize_factor": break
                    default: throw .invalid("configuration.hnsw: unknown key '\(key.prefix(32))'")
                    }
                }
            }
            spec.configuration = JSONValueWriter.text(configuration)
        default:
            throw .invalid("configuration must be an object")
        }
        return CreateCollection(spec: spec, getOrCreate: getOrCreate)
    }

    static func checkName(_ name: String) throws(CollectionError) {
        // Chroma's rule: 3–512 characters of [a-zA-Z0-9._-], starting and ending alphanumeric.
        let bytes = Array(name.utf8)
        func alnum(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) }
        guard (3...512).contains(bytes.count), alnum(bytes.first!), alnum(bytes.last!),
              bytes.allSatisfy({ alnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }) else {
            throw .invalid("collection name \"\(name.prefix(64))\" must be 3–512 characters of [a-zA-Z0-9._-], starting and ending with a letter or digit")
        }
    }

    static func metric(_ value: MetadataValue) throws(CollectionError) -> CollectionMetric {
        guard case .string(let s) = value, let metric = CollectionMetric(rawValue: s) else {
            throw .invalid("space must be one of cosine, ip, l2")
        }
        return metric
    }

    static func positive(_ value: JSONValue, _ field: String) throws(CollectionError) -> Int {
        guard let v = try ChromaBodies.integer(value, field), v > 0 else { throw .invalid("\(field) must be a positive integer") }
        return v
    }
}

/// `PUT …/collections/{id}`: `{"new_name", "new_metadata", "new_configuration"}`.
struct ModifyCollection {
    var name: String?
    var metadata: String?
    var efSearch: Int?

    static func parse(_ request: HTTPRequest) throws(CollectionError) -> ModifyCollection {
        var change = ModifyCollection()
        try ChromaBodies.read(request) { (p, key) throws(CollectionError) in
            let v = try ChromaBodies.value(&p)
            switch key {
            case "new_name":
                guard v != .null else { return true }
                guard case .string(let s) = v else { throw .invalid("new_name must be a string") }
                try CreateCollection.checkName(s)
                change.name = s
            case "new_metadata":
                guard v != .null else { return true }
                change.metadata = try Metadata.parse(v, at: "new_metadata").json
            case "new_configuration":
                guard v != .null else { return true }
                guard case .object(let object) = v else { throw .invalid("new_configuration must be an object") }
                if let hnsw = object["hnsw"], hnsw != .null {
                    guard case .object(let h) = hnsw else { throw .invalid("new_configuration.hnsw must be an object") }
                    for key in h.keys {
                        switch key {
                        case "ef_search": change.efSearch = try CreateCollection.positive(h[key]!, "new_configuration.hnsw.ef_search")
                        case "num_threads", "batch_size", "sync_threshold", "resize_factor": break
                        default: throw .invalid("new_configuration.hnsw.\(key.prefix(32)) cannot be changed after creation")
                        }
                    }
                }
            default: return false
            }
            return true
        }
        return change
    }
}
