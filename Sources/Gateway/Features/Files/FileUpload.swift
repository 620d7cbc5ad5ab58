import Net
import Storage

/// One upload, from the socket to a committed version: the request body streams in
/// (`HTTPBodySink`), raw or through `MultipartFormParser`, is cut into `chunkBytes` pieces, and
/// each piece is hashed and stored (a file write, a database row) while the next fills. At most
/// two pieces exist at a time: when one is being stored and the next is full, the socket is
/// paused until the store catches up — memory per upload is two chunks, whatever the size.
///
/// Nothing is visible until the end: the blob is sealed (fsync + rename, or the database blob
/// completed) and the version committed in one unit, then 201. Any failure — a malformed body,
/// the limit, a client gone, a dead disk or database — drops what was written and answers (or
/// has nobody to answer).
final class FileUpload: HTTPBodySink {
    enum Framing {
        case raw
        case multipart(MultipartFormParser)
    }

    let context: RequestContext
    let store: Store
    let blobs: any BlobStore
    let onStored: (StoredFile) -> Void
    var framing: Framing
    /// From `X-File-Name` or `?name=`, else the form's `name` field, else the file part's filename.
    var name: String?
    var contentType: String
    var destination: (any BlobUpload)?
    let hash = SHA256Stream()
    var filling: [UInt8] = []
    /// Full pieces waiting behind the one being stored.
    var waiting: [[UInt8]] = []
    var storing = false
    var sequence = 0
    var size = 0
    var bodyComplete = false
    var paused = false
    var over = false
    // Multipart: where the current part's data goes.
    enum PartRole { case file, nameField, ignored }
    var part = PartRole.ignored
    var sawFile = false
    var nameField: [UInt8] = []

    init(context: RequestContext, store: Store, blobs: any BlobStore, framing: Framing, name: String?, contentType: String,
         onStored: @escaping (StoredFile) -> Void) {
        self.context = context
        self.store = store
        self.blobs = blobs
        self.framing = framing
        self.name = name
        self.contentType = contentType
        self.onStored = onStored
        filling.reserveCapacity(blobs.chunkBytes)
    }

    /// Opens the destination, then takes the body.
    func start() {
        blobs.startUpload(on: context.loop) { [self] result in
            switch result {
            case .failure(let error): fail(GatewayError(error))
            case .success(let destination):
                self.destination = destination
                context.responder.readBody(into: self)
            }
        }
    }

    // MARK: HTTPBodySink

    func bodyBytes(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard !over else { return true }
        switch framing {
        case .raw:
            append(bytes)
        case .multipart(var parser):
            framing = .raw // released while fed, so the parser is not copied on write
            do throws(MultipartFormParser.Failure) {
                try parser.feed(bytes) { (event) throws(MultipartFormParser.Failure) in try self.handle(event) }
                framing = .multipart(parser)
            } catch {
                framing = .multipart(parser)
                fail(.badRequest("multipart/form-data: \(error.description)"))
                return true
            }
        }
        // Pause while a full piece waits behind the one being stored.
        if !waiting.isEmpty && storing {
            paused = true
            return false
        }
        return true
    }

    func bodyEnded() {
        guard !over else { return }
        if case .multipart(var parser) = framing {
            do throws(MultipartFormParser.Failure) { try parser.finish() } catch {
                return fail(.badRequest("multipart/form-data: \(error.description)"))
            }
            guard sawFile else { return fail(.badRequest("multipart/form-data needs a part named \"file\"")) }
            if name == nil, !nameField.isEmpty { name = String(decoding: nameField, as: UTF8.self) }
        }
        guard let name else {
            return fail(.badRequest("a file needs a name: X-File-Name, ?name=, a \"name\" field or the file part's filename"))
        }
        do throws(GatewayError) { try FilesFeature.checkName(name) } catch { return fail(error) }
        bodyComplete = true
        if !filling.isEmpty {
            waiting.append(filling)
            filling = []
        }
        storeNext()
    }

    func bodyFailed(_ error: HTTPParseError?) {
        // The server answered (a malformed body, over the limit) or nobody is left to answer.
        over = true
        destination?.abort(on: context.loop)
    }

    // MARK: Multipart parts

    func handle(_ event: MultipartFormParser.Event) throws(MultipartFormParser.Failure) {
        switch event {
        case .partBegan(let head):
            if head.name == "file" {
                guard !sawFile else { throw MultipartFormParser.Failure(description: "more than one part is named \"file\"") }
                sawFile = true
                part = .file
                if name == nil, nameField.isEmpty, let filename = head.filename { name = filename }
                if let type = head.contentType { contentType = type }
            } else if head.name == "name" && head.filename == nil {
                part = .nameField
            } else {
                part = .ignored
            }
        case .data(let bytes):
            switch part {
            case .file: append(bytes)
            case .nameField:
                guard nameField.count + bytes.count <= 1024 else { throw MultipartFormParser.Failure(description: "the name field is over 1 KiB") }
                nameField.append(contentsOf: bytes)
            case .ignored: break
            }
        case .partEnded:
            part = .ignored
        }
    }

    // MARK: Pieces

    func append(_ bytes: UnsafeRawBufferPointer) {
        var rest = bytes
        let chunk = blobs.chunkBytes
        while !rest.isEmpty {
            let n = min(chunk - filling.count, rest.count)
            filling.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest[0..<n]))
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            size += n
            if filling.count == chunk {
                waiting.append(filling)
                filling = []
                filling.reserveCapacity(chunk)
                storeNext()
            }
        }
    }

    func storeNext() {
        guard !over, !storing, let destination else { return }
        guard !waiting.isEmpty else {
            if bodyComplete { seal(destination) }
            return
        }
        let piece = waiting.removeFirst()
        storing = true
        destination.write(piece, seq: sequence, hash: hash, on: context.loop) { [self] result in
            storing = false
            if case .failure(let error) = result { return fail(GatewayError(error)) }
            sequence += 1
            if paused {
                paused = false
                context.responder.resumeBody()
            }
            storeNext()
        }
    }

    func seal(_ destination: any BlobUpload) {
        let digest = hash.finish()
        let loop = context.loop
        destination.seal(sha256: digest, on: loop) { [self] result in
            switch result {
            case .failure(let error): fail(GatewayError(error))
            case .success(let pending):
                store.commitFileVersion(tenantID: context.caller.tenantID, name: name!, contentType: contentType, sha256: digest,
                                        size: Int64(size), pendingBlobID: pending, chunkBytes: blobs.chunkBytes, on: loop) { [self] result in
                    over = true
                    switch result {
                    case .failure(let error):
                        if let pending { store.discardBlob(id: pending, on: loop) { _ in } }
                        context.send(error)
                    case .success(let file): onStored(file)
                    }
                }
            }
        }
    }

    func fail(_ error: GatewayError) {
        guard !over else { return }
        over = true
        waiting.removeAll()
        filling = []
        destination?.abort(on: context.loop)
        context.send(error)
    }
}
