import Logging
import Net
import Storage

/// The writer's documents, versioned: `/v1/documents` (create, list), `/v1/documents/{id}`
/// (read, replace, patch metadata, delete), `/v1/documents/{id}/content` (the text itself, with
/// its content type), `/v1/documents/{id}/versions` (history, paged), `/versions/{n}` and
/// `/versions/{n}/restore`. Readers read, writers write; another tenant's document is 404.
///
/// Lost updates are impossible: every write of an existing document needs `If-Match` with the
/// version's `ETag` (428 without, 412 when stale), and the database compares the version in the
/// same statement that writes (`UPDATE … WHERE version = $n`), so two writers holding one ETag
/// cannot both succeed. Reads answer `ETag` and honour `If-None-Match` (304).
enum DocumentsFeature: GatewayFeature {
    static func register(on router: RouterBuilder, services: GatewayServices) {
        let store = services.store
        let cache = services.documentCache
        if let cache { services.metrics.register("document-cache") { cache.writeMetrics(into: &$0) } }

        router.post("/v1/documents", .role(.writer)) { context in
            let content: DocumentJSON.Content
            do throws(GatewayError) { content = try DocumentJSON.content(context.request) } catch { return context.send(error) }
            let caller = context.caller
            store.createDocument(tenantID: caller.tenantID, title: content.title, body: content.content, contentType: content.contentType,
                                 metadata: content.metadata, on: context.loop) { result in
                switch result {
                case .success(let d): send(d, context, status: .created, extra: [("Location", "/v1/documents/\(d.id)")])
                case .failure(let error): context.send(error)
                }
            }
        }

        router.get("/v1/documents", .role(.reader)) { context in
            let limit: Int
            let after: Int64?
            let updatedSince: Int64?
            let request = context.request
            let key = request.query("metadata_key")
            let value = request.query("metadata_value")
            let scope = "documents\u{0}\(key ?? "")\u{0}\(value ?? "")\u{0}\(request.query("updated_since") ?? "")"
            do throws(GatewayError) {
                limit = try Listing.limit(request)
                after = try request.query("cursor").map { (c) throws(GatewayError) in try PageCursor.decode(c, scope: scope) }
                updatedSince = try request.query("updated_since").map { (t) throws(GatewayError) in
                    guard let ms = Int64(t), ms >= 0 else { throw .badRequest("updated_since must be milliseconds since 1970") }
                    return ms
                }
                guard (key == nil) == (value == nil) else { throw .badRequest("metadata_key and metadata_value go together") }
            } catch { return context.send(error) }
            let store: Store
            do throws(GatewayError) { store = try context.reading(services.store) } catch { return context.send(error) }
            store.documents(tenantID: context.caller.tenantID, after: after, limit: limit, updatedSince: updatedSince,
                            metadataKey: key, metadataValue: value, on: context.loop) { result in
                switch result {
                case .failure(let error): context.send(error)
                case .success(let page):
                    Listing.send("documents", page.items, next: page.next.map { PageCursor.encode($0, scope: scope) }, context,
                             DocumentJSON.write)
                }
            }
        }

        router.get("/v1/documents/:id", .role(.reader)) { context in
            guard let cache else {
                return withDocument(context, store) { d in
                    let tag = EntityTag.version(d.id, d.version)
                    if context.answeredNotModified(tag) { return }
                    send(d, context)
                }
            }
            let id: Int64
            let store: Store
            do throws(GatewayError) {
                id = try documentID(context)
                store = try context.reading(services.store)
            } catch { return context.send(error) }
            let tenant = context.caller.tenantID
            cache.read(tenantID: tenant, id: id, on: context.loop,
                       load: { loaded in store.document(tenantID: tenant, id: id, on: context.loop, loaded) }) { result in
                switch result {
                case .failure(let error): context.send(error)
                case .success(let entry):
                    let tag = EntityTag.version(id, entry.version)
                    if context.answeredNotModified(tag) { return }
                    context.sendJSON(entry.json, headers: [("ETag", tag.header)])
                }
            }
        }

        router.get("/v1/documents/:id/content", .role(.reader)) { context in
            withDocument(context, store) { d in
                let tag = EntityTag.version(d.id, d.version)
                if context.answeredNotModified(tag) { return }
                context.send(status: .ok, headers: [("Content-Type", d.contentType + "; charset=utf-8"), ("ETag", tag.header)],
                             body: .bytes(Array(d.body.utf8)))
            }
        }

        router.put("/v1/documents/:id", .role(.writer)) { context in
            let id: Int64
            let expected: Int64
            let content: DocumentJSON.Content
            do throws(GatewayError) {
                id = try documentID(context)
                expected = try expectedVersion(context, id: id)
                content = try DocumentJSON.content(context.request)
            } catch { return context.send(error) }
            store.updateDocument(tenantID: context.caller.tenantID, id: id, expectedVersion: expected, title: content.title,
                                 body: content.content, contentType: content.contentType, metadata: content.metadata,
                                 on: context.loop) { result in answerWrite(result, context, cache) }
        }

        router.patch("/v1/documents/:id", .role(.writer)) { context in
            let id: Int64
            let expected: Int64
            let patch: JSONValue
            do throws(GatewayError) {
                id = try documentID(context)
                expected = try expectedVersion(context, id: id)
                let object = try DocumentJSON.object(context.request)
                try DocumentJSON.refuseUnknown(object, allowed: ["metadata"])
                guard case .object? = object["metadata"] else { throw .badRequest("'metadata' is required and must be an object (a JSON merge patch)") }
                patch = object["metadata"]!
            } catch { return context.send(error) }
            let tenant = context.caller.tenantID
            // Read from the primary: the version compared with If-Match must be the newest one.
            store.readingPrimary.document(tenantID: tenant, id: id, on: context.loop) { result in
                switch result {
                case .failure(let error): context.send(error)
                case .success(let d):
                    guard d.version == expected else { return context.send(stale(d)) }
                    let current = (try? JSONParser.parse(Array(d.metadata.utf8))) ?? .object(JSONObject())
                    var w = JSONWriter()
                    JSONValueWriter.write(DocumentJSON.mergePatch(current, patch), into: &w)
                    // The write is still guarded by the version read: a writer in between makes it 412.
                    store.updateDocument(tenantID: tenant, id: id, expectedVersion: d.version, title: d.title, body: d.body,
                                         contentType: d.contentType, metadata: String(decoding: w.bytes, as: UTF8.self),
                                         on: context.loop) { result in answerWrite(result, context, cache) }
                }
            }
        }

        router.delete("/v1/documents/:id", .role(.writer)) { context in
            let id: Int64
            do throws(GatewayError) { id = try documentID(context) } catch { return context.send(error) }
            let tenant = context.caller.tenantID
            store.deleteDocument(tenantID: tenant, id: id, on: context.loop) { result in
                switch result {
                case .success:
                    guard let cache else { return context.send(status: .noContent) }
                    cache.deleted(tenantID: tenant, id: id, on: context.loop) { context.send(status: .noContent) }
                case .failure(let error): context.send(error)
                }
            }
        }

        router.get("/v1/documents/:id/versions", .role(.reader)) { context in
            let id: Int64
            let limit: Int
            let after: Int64?
            let scope = "versions"
            let store: Store
            do throws(GatewayError) {
                id = try documentID(context)
                limit = try Listing.limit(context.request)
                after = try context.request.query("cursor").map { (c) throws(GatewayError) in try PageCursor.decode(c, scope: scope + "\(id)") }
                store = try context.reading(services.store)
            } catch { return context.send(error) }
            store.documentVersions(tenantID: context.caller.tenantID, id: id, after: after, limit: limit, on: context.loop) { result in
                switch result {
                case .failure(let error): context.send(error)
                case .success(let page):
                    Listing.send("versions", page.items, next: page.next.map { PageCursor.encode($0, scope: scope + "\(id)") }, context,
                             DocumentJSON.write)
                }
            }
        }

        router.get("/v1/documents/:id/versions/:version", .role(.reader)) { context in
            let id: Int64
            let version: Int64
            let store: Store
            do throws(GatewayError) {
                id = try documentID(context)
                version = try versionNumber(context)
                store = try context.reading(services.store)
            } catch { return context.send(error) }
            store.documentVersion(tenantID: context.caller.tenantID, id: id, version: version, on: context.loop) { result in
                switch result {
                case .failure(let error): context.send(error)
                case .success(let v):
                    // A version never changes: its tag is as good as the content.
                    let tag = EntityTag.version(v.documentID, v.version)
                    if context.answeredNotModified(tag) { return }
                    var w = JSONWriter()
                    DocumentJSON.write(v, into: &w)
                    w.raw("\n")
                    context.sendJSON(w.bytes, headers: [("ETag", tag.header)])
                }
            }
        }

        router.post("/v1/documents/:id/versions/:version/restore", .role(.writer)) { context in
            let id: Int64
            let version: Int64
            var expected: Int64?
            do throws(GatewayError) {
                id = try documentID(context)
                version = try versionNumber(context)
                // Optional here (restoring names its content exactly); when sent, it must hold.
                if context.request.header("If-Match") != nil { expected = try expectedVersion(context, id: id) }
            } catch { return context.send(error) }
            store.restoreDocument(tenantID: context.caller.tenantID, id: id, version: version, expectedVersion: expected,
                                  on: context.loop) { result in answerWrite(result, context, cache, status: .created) }
        }
    }

    // MARK: Helpers

    /// The read-through cache `document-cache` asks for (nil: off).
    static func makeCache(configuration: GatewayConfiguration, logger: Logger) -> DocumentCache? {
        let settings = configuration.documents
        guard settings.cache == .auto else { return nil }
        if let url = configuration.redisURL, let redis = try? RedisSettings(url: url) {
            return DocumentCache(backend: .redis(redis), ttlMs: settings.cacheTTLMs, logger: logger)
        }
        guard configuration.storage.databaseURL == nil else { return nil }
        return DocumentCache(backend: .local(LocalDocumentCache(maximumBytes: settings.cacheMaximumBytes)), ttlMs: settings.cacheTTLMs,
                             logger: logger)
    }

    static func documentID(_ context: RequestContext) throws(GatewayError) -> Int64 {
        guard let text = context.parameter("id"), let id = Int64(text), id > 0 else { throw .notFound("no such document") }
        return id
    }

    static func versionNumber(_ context: RequestContext) throws(GatewayError) -> Int64 {
        guard let text = context.parameter("version"), let n = Int64(text), n > 0 else { throw .notFound("no such version") }
        return n
    }

    /// The version `If-Match` names: 428 without one, 400 when malformed, 412 when it names no
    /// version of this document (`*` included: a write must say which version it replaces).
    static func expectedVersion(_ context: RequestContext, id: Int64) throws(GatewayError) -> Int64 {
        let values = context.request.headerValues("If-Match")
        guard !values.isEmpty else {
            throw GatewayError(.preconditionRequired, "precondition_required",
                               "a write of an existing document needs If-Match with its ETag (read it with GET)")
        }
        let condition: EntityTag.Condition
        do { condition = try EntityTag.parse(values.joined(separator: ",")) } catch {
            throw .badRequest("If-Match is not a list of entity tags")
        }
        let versions = EntityTag.expectedVersion(condition, id: id)
        guard versions.count == 1 else {
            throw GatewayError(.preconditionFailed, "precondition_failed", "If-Match must name exactly one version of document \(id)")
        }
        return versions[0]
    }

    static func stale(_ d: Document) -> GatewayError {
        GatewayError(.preconditionFailed, "precondition_failed", "document \(d.id) is at version \(d.version)",
                     headers: [("ETag", EntityTag.version(d.id, d.version).header)])
    }

    /// A guarded write's answer: the new version (once the cache has it), or 412 when the
    /// version moved under it.
    static func answerWrite(_ result: Result<Document, StoreError>, _ context: RequestContext, _ cache: DocumentCache?,
                            status: HTTPStatus = .ok) {
        switch result {
        case .success(let d):
            guard let cache else { return send(d, context, status: status) }
            cache.stored(d, on: context.loop) { send(d, context, status: status) }
        case .failure(.conflict(let message)): context.send(GatewayError(.preconditionFailed, "precondition_failed", message))
        case .failure(let error): context.send(error)
        }
    }

    static func withDocument(_ context: RequestContext, _ base: Store, _ body: @escaping (Document) -> Void) {
        let id: Int64
        let store: Store
        do throws(GatewayError) {
            id = try documentID(context)
            store = try context.reading(base)
        } catch { return context.send(error) }
        store.document(tenantID: context.caller.tenantID, id: id, on: context.loop) { result in
            switch result {
            case .success(let d): body(d)
            case .failure(let error): context.send(error)
            }
        }
    }

    static func send(_ d: Document, _ context: RequestContext, status: HTTPStatus = .ok, extra: [(String, String)] = []) {
        var w = JSONWriter()
        DocumentJSON.write(d, into: &w)
        w.raw("\n")
        context.sendJSON(status: status, w.bytes, headers: [("ETag", EntityTag.version(d.id, d.version).header)] + extra)
    }
}
