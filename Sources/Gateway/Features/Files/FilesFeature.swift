import Logging
import Net
import Storage

/// Uploaded files with versions: `POST /v1/files` (raw body or `multipart/form-data`, streamed
/// to storage as it arrives, `files-max-bytes` at most), `GET /v1/files` (paged),
/// `GET /v1/files/{id}` (metadata), `GET /v1/files/{id}/content` (the bytes, `?version=n` for an
/// older one, with `ETag`, `Last-Modified`, `If-None-Match`, one `Range`, `Content-Disposition`),
/// `GET /v1/files/{id}/versions` (paged), `DELETE /v1/files/{id}`. Uploading a name the tenant
/// already has makes its next version. Readers read, writers write; another tenant's file is 404.
///
/// Bytes are content-addressed blobs (`BlobStore`): in the data directory with SQLite, in
/// PostgreSQL with it. A blob no version holds is deleted by the sweep an hour later at the
/// earliest (at start, then hourly), never at once, so a concurrent upload of the same bytes is
/// never left pointing at nothing.
enum FilesFeature: GatewayFeature {
    static func register(on router: RouterBuilder, services: GatewayServices) {
        let store = services.store
        let settings = services.configuration.files
        let blobs: any BlobStore
        if services.configuration.storage.isPostgres {
            blobs = DatabaseBlobStore(store: store)
        } else {
            let root = settings.directory ?? services.configuration.storage.dataDirectory + "/files"
            do throws(StoreError) { blobs = try DiskBlobStore(root: root) } catch {
                services.logger.error("files are off: \(error.description)")
                return
            }
        }
        let logger = services.logger
        services.lifecycle.onStart { group in
            let loop = group.loops[0]
            loop.execute { sweepRepeatedly(blobs, store, loop, logger) }
        }

        router.add(.post, "/v1/files", .role(.writer), streamingBodyUpTo: settings.maximumBytes) { context in
            let request = context.request
            let type = request.header("Content-Type") ?? "application/octet-stream"
            let name = request.header("X-File-Name") ?? request.query("name")
            let framing: FileUpload.Framing
            do throws(GatewayError) {
                if let given = name { try checkName(given) }
                if type.lowercased().hasPrefix("multipart/") {
                    switch MultipartFormParser.boundary(fromContentType: type) {
                    case .failure(let why): throw .badRequest("multipart/form-data: \(why.description)")
                    case .success(let boundary): framing = .multipart(MultipartFormParser(boundary: boundary))
                    }
                } else {
                    framing = .raw
                    guard name != nil else { throw .badRequest("a raw upload needs its name in X-File-Name or ?name=") }
                }
                try validContentType(type)
            } catch { return context.send(error) }
            let upload = FileUpload(context: context, store: store, blobs: blobs, framing: framing, name: name,
                                    contentType: framing.isMultipart ? "application/octet-stream" : type) { file in
                var w = JSONWriter()
                write(file, into: &w)
                context.sendJSON(status: .created, w.bytes, headers: [("Location", "/v1/files/\(file.id)"), ("ETag", metadataTag(file).header)])
            }
            upload.start()
        }

        router.get("/v1/files", .role(.reader)) { context in
            let limit: Int
            let after: Int64?
            do throws(GatewayError) {
                limit = try Listing.limit(context.request)
                after = try context.request.query("cursor").map { (c) throws(GatewayError) in try PageCursor.decode(c, scope: "files") }
            } catch { return context.send(error) }
            store.files(tenantID: context.caller.tenantID, after: after, limit: limit, on: context.loop) { result in
                switch result {
                case .failure(let error): context.send(error)
                case .success(let page):
                    Listing.send("files", page.items, next: page.next.map { PageCursor.encode($0, scope: "files") }, context, write)
                }
            }
        }

        router.get("/v1/files/:id", .role(.reader)) { context in
            withFile(context, store) { file in
                let tag = metadataTag(file)
                if context.answeredNotModified(tag) { return }
                var w = JSONWriter()
                write(file, into: &w)
                context.sendJSON(w.bytes, headers: [("ETag", tag.header)])
            }
        }

        router.get("/v1/files/:id/content", .role(.reader)) { context in
            withFile(context, store, versioned: true) { file in
                let tag = EntityTag(opaque: Blobs.hex(file.sha256))
                let lastModified = HTTPDate.format(file.updatedAt / 1000)
                var headers: [(String, String)] = [("ETag", tag.header), ("Last-Modified", lastModified), ("Accept-Ranges", "bytes"),
                                                   ("Cache-Control", "private, no-cache")]
                if context.answeredNotModified(tag, extra: Array(headers.dropFirst())) { return }
                // If-Range: the range only if the client's copy is this one.
                var rangeHeader = context.request.header("Range")
                if let ifRange = context.request.header("If-Range"), rangeHeader != nil {
                    let same = (try? EntityTag.parse(ifRange)).map { EntityTag.matchesStrongly($0, tag) } ?? (ifRange == lastModified)
                    if !same { rangeHeader = nil }
                }
                let size = Int(file.size)
                var range: ClosedRange<Int>?
                switch ByteRange.answer(rangeHeader, size: size) {
                case .whole: break
                case .partial(let r): range = r
                case .unsatisfiable:
                    return context.send(status: .rangeNotSatisfiable, headers: [("Content-Range", "bytes */\(size)")] + headers,
                                        body: .empty)
                }
                headers.insert(("Content-Type", file.contentType), at: 0)
                headers.append(("Content-Disposition", disposition(file.name)))
                if let range { headers.append(("Content-Range", "bytes \(range.lowerBound)-\(range.upperBound)/\(size)")) }
                blobs.openRead(file, on: context.loop) { result in
                    switch result {
                    case .failure(let error):
                        logger.error("file bytes unreadable", metadata: ["file": .string(String(file.id)), "error": .string(error.description)])
                        context.send(error)
                    case .success(let reader):
                        FileDownload(context: context, reader: reader, file: file, range: range, logger: logger)
                            .start(status: range == nil ? .ok : .partialContent, headers: headers)
                    }
                }
            }
        }

        router.get("/v1/files/:id/versions", .role(.reader)) { context in
            let id: Int64
            let limit: Int
            let after: Int64?
            do throws(GatewayError) {
                id = try fileID(context)
                limit = try Listing.limit(context.request)
                after = try context.request.query("cursor").map { (c) throws(GatewayError) in try PageCursor.decode(c, scope: "file-versions\u{0}\(id)") }
            } catch { return context.send(error) }
            store.fileVersions(tenantID: context.caller.tenantID, id: id, after: after, limit: limit, on: context.loop) { result in
                switch result {
                case .failure(let error): context.send(error)
                case .success(let page):
                    Listing.send("versions", page.items, next: page.next.map { PageCursor.encode($0, scope: "file-versions\u{0}\(id)") }, context, write)
                }
            }
        }

        router.delete("/v1/files/:id", .role(.writer)) { context in
            let id: Int64
            do throws(GatewayError) { id = try fileID(context) } catch { return context.send(error) }
            store.deleteFile(tenantID: context.caller.tenantID, id: id, on: context.loop) { result in
                switch result {
                case .failure(let error): context.send(error)
                case .success: context.send(status: .noContent)
                }
            }
        }
    }

    /// The sweep at start and then every hour, on one loop of each process.
    static func sweepRepeatedly(_ blobs: any BlobStore, _ store: Store, _ loop: EventLoop, _ logger: Logger) {
        blobs.sweep(store: store, on: loop) { result in
            switch result {
            case .failure(let error): logger.warning("file sweep failed", metadata: ["error": .string(error.description)])
            case .success(let removed) where removed > 0: logger.info("file sweep", metadata: ["removed": .string(String(removed))])
            case .success: break
            }
            _ = loop.schedule(afterMilliseconds: 3_600_000) { sweepRepeatedly(blobs, store, loop, logger) }
        }
    }

    /// A name the Store would refuse, refused before any of the body is read (400, as every
    /// other malformed part of the request).
    static func checkName(_ name: String) throws(GatewayError) {
        guard !name.unicodeScalars.contains("\u{FFFD}") else { throw .badRequest("the file name is not UTF-8") }
        do throws(StoreError) { try Validation.fileName(name) } catch {
            if case .invalid(let why) = error { throw .badRequest(why) }
            throw GatewayError(error)
        }
    }

    static func metadataTag(_ file: StoredFile) -> EntityTag { EntityTag(opaque: "f\(file.id)-\(file.version)") }

    /// A media type as sent, within reason: `type/subtype` and parameters, visible ASCII.
    static func validContentType(_ value: String) throws(GatewayError) {
        guard (3...255).contains(value.utf8.count), value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }),
              let slash = value.firstIndex(of: "/"), slash != value.startIndex else {
            throw .badRequest("Content-Type must be a media type (type/subtype) of visible ASCII, at most 255 bytes")
        }
    }

    /// `attachment` with an ASCII fallback name and the exact one in RFC 8187 encoding.
    static func disposition(_ name: String) -> String {
        let fallback = String(name.unicodeScalars.map { $0.isASCII && $0 != "\"" && $0 != "\\" && $0.value >= 0x20 ? Character($0) : "_" })
        var encoded = ""
        for b in name.utf8 {
            let c = Character(UnicodeScalar(b))
            if (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || "!#$&+-.^_`|~".contains(c) {
                encoded.append(c)
            } else {
                encoded += "%" + String(b >> 4, radix: 16, uppercase: true) + String(b & 15, radix: 16, uppercase: true)
            }
        }
        return "attachment; filename=\"\(fallback)\"; filename*=UTF-8''\(encoded)"
    }

    static func fileID(_ context: RequestContext) throws(GatewayError) -> Int64 {
        guard let text = context.parameter("id"), let id = Int64(text), id > 0 else { throw .notFound("no such file") }
        return id
    }

    static func withFile(_ context: RequestContext, _ store: Store, versioned: Bool = false, _ body: @escaping (StoredFile) -> Void) {
        let id: Int64
        var version: Int64?
        do throws(GatewayError) {
            id = try fileID(context)
            if versioned, let text = context.request.query("version") {
                guard let n = Int64(text), n > 0 else { throw .badRequest("version must be a positive whole number") }
                version = n
            }
        } catch { return context.send(error) }
        store.file(tenantID: context.caller.tenantID, id: id, version: version, on: context.loop) { result in
            switch result {
            case .failure(let error): context.send(error)
            case .success(let file): body(file)
            }
        }
    }

    static func write(_ f: StoredFile, into w: inout JSONWriter) {
        w.raw("{\"id\":"); w.raw(String(f.id))
        w.raw(",\"name\":"); w.string(f.name)
        w.raw(",\"version\":"); w.raw(String(f.version))
        w.raw(",\"size\":"); w.raw(String(f.size))
        w.raw(",\"sha256\":"); w.string(Blobs.hex(f.sha256))
        w.raw(",\"content_type\":"); w.string(f.contentType)
        w.raw(",\"created_at\":"); w.raw(String(f.createdAt))
        w.raw(",\"updated_at\":"); w.raw(String(f.updatedAt))
        w.raw("}")
    }

    static func write(_ v: StoredFileVersion, into w: inout JSONWriter) {
        w.raw("{\"file_id\":"); w.raw(String(v.fileID))
        w.raw(",\"version\":"); w.raw(String(v.version))
        w.raw(",\"size\":"); w.raw(String(v.size))
        w.raw(",\"sha256\":"); w.string(Blobs.hex(v.sha256))
        w.raw(",\"content_type\":"); w.string(v.contentType)
        w.raw(",\"created_at\":"); w.raw(String(v.createdAt))
        w.raw("}")
    }
}

extension FileUpload.Framing {
    var isMultipart: Bool { if case .multipart = self { return true } else { return false } }
}
