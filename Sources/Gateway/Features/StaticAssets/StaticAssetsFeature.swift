#if canImport(Glibc)
import Glibc
#endif
import Net

/// `static-dir`: a folder served at `/` for GET and HEAD requests no route claims (outside
/// `/v1/` and `/api/`), without a key. Content types by extension, `index.html` for a
/// directory, `ETag` and `Last-Modified` with `If-None-Match` / `If-Modified-Since` (304),
/// a single `Range` (206, 416; `If-Range` honoured), pre-compressed `.br` / `.gz` siblings by
/// `Accept-Encoding`, `static-cache-control`. Files are read on the loop's worker pool, never
/// on the loop; those up to 1 MiB are then kept in memory for a second (`SmallFiles`).
///
/// Nothing outside the folder is reachable: the path is checked segment by segment
/// (`StaticPath`: `..`, dot-files, encoded separators, NUL and controls refused), and the file
/// finally opened must resolve (`realpath`, symlinks followed) to a path inside the folder's own
/// resolved path, or the answer is 404 — the same 404 as a file that does not exist.
enum StaticAssetsFeature: GatewayFeature {
    static func register(on router: RouterBuilder, services: GatewayServices) {
        let settings = services.configuration.staticAssets
        guard let directory = settings.directory else { return }
        guard let root = realpath(directory, nil) else {
            services.logger.warning("static-dir cannot be resolved: nothing is served", metadata: ["static-dir": .string(directory)])
            return
        }
        let base = String(cString: root)
        free(root)
        let cacheControl = settings.cacheControl
        let maximumBytes = settings.maximumFileBytes
        router.fallback(.limited) { context in
            let request = context.request
            guard let (path, _) = StaticPath.relative(rawPath: request.withRawPath { Array($0) }) else {
                return context.send(GatewayError.notFound("no such file"))
            }
            let ask = Ask(path: path, acceptEncoding: request.header("Accept-Encoding") ?? "", range: request.header("Range"),
                          ifRange: request.header("If-Range"), ifNoneMatch: request.headerValues("If-None-Match"),
                          ifModifiedSince: request.header("If-Modified-Since"))
            let loop = context.loop
            let small = loop.local(for: smallFilesKey) { SmallFiles() }
            let key = path + (accepts(ask.acceptEncoding, "br") ? "\u{0}b" : "\u{0}") + (accepts(ask.acceptEncoding, "gzip") ? "g" : "")
            if let hit = small.entries[key], loop.nowMilliseconds &- hit.checkedMs < SmallFiles.revalidateMs {
                switch decide(ask, hit.file) {
                case .answer(let outcome): return answer(outcome, ask, context, cacheControl: cacheControl)
                case .send(let range):
                    let bytes = range.map { Array(hit.bytes[$0]) } ?? hit.bytes
                    return answer(.bytes(hit.file, bytes, range), ask, context, cacheControl: cacheControl)
                }
            }
            loop.submit({ StaticAssetsFeature.read(ask, base: base, maximumBytes: maximumBytes) }) { outcome in
                if case .bytes(let file, let bytes, nil) = outcome, bytes.count <= SmallFiles.maximumFileBytes {
                    small.keep(key, file, bytes, nowMs: loop.nowMilliseconds)
                } else if case .missing = outcome {
                    small.forget(key)
                }
                answer(outcome, ask, context, cacheControl: cacheControl)
            }
        }
    }

    static let smallFilesKey = LoopLocalKey()

    /// Files up to 1 MiB each loop has read, served from memory for a second before the file
    /// is looked at again — what nginx's `open_file_cache` does for its descriptors and the
    /// page cache does for its `sendfile`: a 1 KiB asset otherwise costs a hop to the worker
    /// pool, `realpath`, `open` and `pread` per request, and a 1 MiB one a fresh megabyte
    /// (256 page faults) besides. A file changed on disk is served as it was for at most that
    /// second. At most 32 MiB and 1,024 files per loop. Loop-owned.
    final class SmallFiles {
        static let revalidateMs: UInt64 = 1_000
        static let maximumFileBytes = 1 << 20
        static let maximumBytes = 32 << 20
        static let maximumEntries = 1_024
        var entries: [String: (file: File, bytes: [UInt8], checkedMs: UInt64)] = [:]
        var bytesHeld = 0

        func keep(_ key: String, _ file: File, _ bytes: [UInt8], nowMs: UInt64) {
            if let old = entries.removeValue(forKey: key) { bytesHeld -= old.bytes.count }
            if entries.count >= SmallFiles.maximumEntries || bytesHeld + bytes.count > SmallFiles.maximumBytes {
                // Full: start over rather than keep recency per hit (the hot set refills in a second).
                entries.removeAll(keepingCapacity: true)
                bytesHeld = 0
            }
            entries[key] = (file, bytes, nowMs)
            bytesHeld += bytes.count
        }

        func forget(_ key: String) {
            if let old = entries.removeValue(forKey: key) { bytesHeld -= old.bytes.count }
        }
    }

    /// What the request asks, copied off the loop for the worker.
    struct Ask: Sendable {
        let path: String
        let acceptEncoding: String
        let range: String?
        let ifRange: String?
        let ifNoneMatch: [String]
        let ifModifiedSince: String?
    }

    struct File: Sendable {
        /// The file asked for (its name gives the content type); the bytes may be a sibling's.
        let name: String
        let encoding: String?
        let size: Int
        let modified: Int64
        let modifiedNanoseconds: Int64
        var tag: EntityTag {
            EntityTag(opaque: String(size, radix: 16) + "-" + String(modified &* 1_000_000_000 &+ modifiedNanoseconds, radix: 16)
                      + (encoding.map { "-" + $0 } ?? ""))
        }
    }

    enum Outcome: Sendable {
        case missing
        case tooLarge
        case notModified(File)
        case unsatisfiable(File)
        case bytes(File, [UInt8], ClosedRange<Int>?)
    }

    /// On a worker thread: find, check and read.
    static func read(_ ask: Ask, base: String, maximumBytes: Int) -> Outcome {
        var candidate = ask.path.isEmpty ? base : base + "/" + ask.path
        var info = stat()
        guard stat(candidate, &info) == 0 else { return .missing }
        var name = ask.path
        if (info.st_mode & S_IFMT) == S_IFDIR {
            candidate += "/index.html"
            name += name.isEmpty ? "index.html" : "/index.html"
        }
        guard var chosen = resolvedInside(candidate, base: base) else { return .missing }
        // A pre-compressed sibling, when the client takes it and the folder has it.
        var encoding: String?
        for (suffix, token) in [(".br", "br"), (".gz", "gzip")] where accepts(ask.acceptEncoding, token) {
            if let sibling = resolvedInside(candidate + suffix, base: base) {
                chosen = sibling
                encoding = token
                break
            }
        }
        // The resolved path has no symlink left in it: one swapped in since is not followed.
        let fd = open(chosen, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return .missing }
        defer { close(fd) }
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return .missing }
        let file = File(name: name, encoding: encoding, size: Int(info.st_size), modified: Int64(info.st_mtim.tv_sec),
                        modifiedNanoseconds: Int64(info.st_mtim.tv_nsec))
        let range: ClosedRange<Int>?
        switch decide(ask, file) {
        case .answer(let outcome): return outcome
        case .send(let r): range = r
        }
        let span = range ?? 0...(file.size - 1)
        let count = file.size == 0 ? 0 : span.count
        guard count <= maximumBytes else { return .tooLarge }
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(span.lowerBound + done)) }
            guard n > 0 else { return .missing }
            done += n
        }
        return .bytes(file, bytes, range)
    }

    enum Decision {
        /// Answer without the bytes (304, 416).
        case answer(Outcome)
        /// Send this range, or the whole file.
        case send(ClosedRange<Int>?)
    }

    /// The conditionals and the Range, decided on what the file is (no bytes needed).
    static func decide(_ ask: Ask, _ file: File) -> Decision {
        if notModified(ask, file) { return .answer(.notModified(file)) }
        guard ask.ifRange == nil || ask.ifRange == file.tag.header || ask.ifRange.flatMap(HTTPDate.parse) == file.modified else {
            return .send(nil)
        }
        switch ByteRange.answer(ask.range, size: file.size) {
        case .whole: return .send(nil)
        case .unsatisfiable: return .answer(.unsatisfiable(file))
        case .partial(let r): return .send(r)
        }
    }

    /// `path` resolved (symlinks followed), when it is a regular file inside `base`.
    static func resolvedInside(_ path: String, base: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        let r = String(cString: resolved)
        var info = stat()
        guard stat(r, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, r.hasPrefix(base.hasSuffix("/") ? base : base + "/") else { return nil }
        return r
    }

    /// Whether an `Accept-Encoding` list takes `token` (with a q-value above 0).
    static func accepts(_ header: String, _ token: String) -> Bool {
        for item in header.split(separator: ",") {
            let parts = item.split(separator: ";").map { part in
                String(part.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
            }
            guard parts.first?.lowercased() == token else { continue }
            for p in parts.dropFirst() where p.hasPrefix("q=") { return (Double(p.dropFirst(2)) ?? 1) > 0 }
            return true
        }
        return false
    }

    static func notModified(_ ask: Ask, _ file: File) -> Bool {
        if !ask.ifNoneMatch.isEmpty {
            guard let condition = try? EntityTag.parse(ask.ifNoneMatch.joined(separator: ",")) else { return false }
            return EntityTag.matchesWeakly(condition, file.tag)
        }
        if let since = ask.ifModifiedSince.flatMap(HTTPDate.parse) { return file.modified <= since }
        return false
    }

    static func answer(_ outcome: Outcome, _ ask: Ask, _ context: RequestContext, cacheControl: String) {
        func headers(_ file: File) -> [(String, String)] {
            var h: [(String, String)] = [("ETag", file.tag.header), ("Last-Modified", HTTPDate.format(file.modified)),
                                         ("Cache-Control", cacheControl), ("Accept-Ranges", "bytes"), ("Vary", "Accept-Encoding"),
                                         ("X-Content-Type-Options", "nosniff")]
            if let e = file.encoding { h.append(("Content-Encoding", e)) }
            return h
        }
        switch outcome {
        case .missing:
            context.send(GatewayError.notFound("no such file"))
        case .tooLarge:
            context.send(GatewayError(.internalServerError, "too_large", "the file is larger than static-max-file-bytes"))
        case .notModified(let file):
            context.send(status: .notModified, headers: headers(file))
        case .unsatisfiable(let file):
            context.send(status: .rangeNotSatisfiable, headers: headers(file) + [("Content-Range", "bytes */\(file.size)")])
        case .bytes(let file, let bytes, let range):
            var h = headers(file) + [("Content-Type", MIMETypes.type(of: file.name))]
            if let range { h.append(("Content-Range", "bytes \(range.lowerBound)-\(range.upperBound)/\(file.size)")) }
            context.send(status: range == nil ? .ok : .partialContent, headers: h, body: .bytes(bytes))
        }
    }
}
