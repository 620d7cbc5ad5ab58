#if canImport(Glibc)
import Glibc
#endif
import Net
import Storage

/// Where the bytes of files live: a folder (`DiskBlobStore`, with the embedded database) or
/// PostgreSQL itself (`DatabaseBlobStore`), behind one interface so uploads and downloads are
/// written once. Metadata (names, versions, hashes) is in the Store either way.
///
/// Blobs are content-addressed: the SHA-256 of the bytes names them, so one blob serves every
/// version and tenant holding the same bytes, and a download can check what it read.
protocol BlobStore: AnyObject, Sendable {
    /// Bytes per piece an upload hands over, and per stored chunk.
    var chunkBytes: Int { get }
    /// Opens a destination for one upload (a temporary file, an incomplete database blob).
    func startUpload(on loop: EventLoop, _ done: @escaping (Result<any BlobUpload, StoreError>) -> Void)
    /// Opens the bytes of `file` for reading.
    func openRead(_ file: StoredFile, on loop: EventLoop, _ done: @escaping (Result<any BlobReader, StoreError>) -> Void)
    /// Deletes bytes no version holds any more (after a grace period) and what crashed uploads left.
    func sweep(store: Store, on loop: EventLoop, _ done: @escaping (Result<Int, StoreError>) -> Void)
}

/// One upload's destination, fed whole chunks in order (the last may be short). Hashing is the
/// caller's, done in the same worker-pool step as a disk write.
protocol BlobUpload: AnyObject {
    /// Stores chunk `seq` after folding it into `hash` (off the loop).
    func write(_ chunk: [UInt8], seq: Int, hash: SHA256Stream, on loop: EventLoop, _ done: @escaping (Result<Void, StoreError>) -> Void)
    /// Every byte is durable and `sha256` is their hash: make them the blob of that hash. Returns
    /// the database blob the bytes are in, if they are in one.
    func seal(sha256: [UInt8], on loop: EventLoop, _ done: @escaping (Result<Int64?, StoreError>) -> Void)
    /// The upload failed or was refused: drop what was written. Idempotent.
    func abort(on loop: EventLoop)
}

/// Reads one blob piece by piece.
protocol BlobReader: AnyObject {
    /// Up to `count` bytes from `offset` (fewer only at the end), folded into `hash` when given
    /// (off the loop).
    func read(offset: Int, count: Int, hash: SHA256Stream?, on loop: EventLoop, _ done: @escaping (Result<[UInt8], StoreError>) -> Void)
    func close()
}

enum Blobs {
    /// 1 MiB: large enough that a 200 MB file is 200 rows, small enough that two in flight per
    /// upload bound its memory.
    static let chunkBytes = 1 << 20
    /// An unreferenced blob is kept this long before a sweep deletes it, so an upload that is
    /// about to point a version at it is never raced.
    static let unreferencedGraceMs: Int64 = 3_600_000
    /// What a crashed upload left is deleted after this long (no upload runs a day).
    static let incompleteGraceMs: Int64 = 86_400_000

    static func hex(_ bytes: [UInt8]) -> String { Digests.hex(bytes) }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}

// MARK: - A folder

/// Blobs as files `blobs/ab/abcdef…` under the folder; an upload is written to `tmp/…​.part`,
/// fsync'd, renamed into place and the folder fsync'd before its version is committed, so an
/// acknowledged upload survives a crash and a crashed one leaves only a `.part` file, which no
/// version names and the sweep deletes. Every file operation runs on the worker pool.
final class DiskBlobStore: BlobStore {
    let root: String
    let chunkBytes = Blobs.chunkBytes

    init(root: String) throws(StoreError) {
        self.root = root
        for dir in [root, root + "/blobs", root + "/tmp"] where mkdir(dir, 0o750) != 0 && errno != EEXIST {
            throw .unavailable("cannot create \(dir): \(Blobs.errnoText())")
        }
    }

    func path(of sha256: [UInt8]) -> (directory: String, file: String) {
        let hex = Blobs.hex(sha256)
        let directory = root + "/blobs/" + String(hex.prefix(2))
        return (directory, directory + "/" + hex)
    }

    func startUpload(on loop: EventLoop, _ done: @escaping (Result<any BlobUpload, StoreError>) -> Void) {
        let temp = root + "/tmp/" + Digests.uuid() + ".part"
        loop.submit({ () -> Int32 in open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640) }) { [self] fd in
            guard fd >= 0 else { return done(.failure(.unavailable("cannot create an upload file: \(Blobs.errnoText())"))) }
            done(.success(DiskUpload(store: self, temp: temp, fd: fd)))
        }
    }

    func openRead(_ file: StoredFile, on loop: EventLoop, _ done: @escaping (Result<any BlobReader, StoreError>) -> Void) {
        let path = path(of: file.sha256).file
        loop.submit({ () -> Int32 in open(path, O_RDONLY | O_CLOEXEC) }) { fd in
            guard fd >= 0 else { return done(.failure(.internalError("the bytes of file \(file.id) are missing from the blob folder"))) }
            done(.success(DiskReader(fd: fd)))
        }
    }

    func sweep(store: Store, on loop: EventLoop, _ done: @escaping (Result<Int, StoreError>) -> Void) {
        let now = Store.now
        store.sweepFileBlobs(unreferencedBefore: now - Blobs.unreferencedGraceMs, incompleteBefore: now - Blobs.incompleteGraceMs,
                             on: loop) { [self] result in
            switch result {
            case .failure(let error): done(.failure(error))
            case .success(let hashes):
                let paths = hashes.map { path(of: $0).file }
                let tmp = root + "/tmp"
                loop.submit({
                    DiskBlobStore.unlinkOld(paths, olderThanMs: now - Blobs.unreferencedGraceMs, parts: tmp, partsOlderThanMs: now - Blobs.incompleteGraceMs)
                }) { done(.success($0)) }
            }
        }
    }

    /// Deletes blob files the sweep released when they are older than the grace (a fresh
    /// rename means an upload of the same bytes just landed), and `.part` files a day old.
    static func unlinkOld(_ paths: [String], olderThanMs: Int64, parts tmp: String, partsOlderThanMs: Int64) -> Int {
        var removed = 0
        func old(_ path: String, _ cutoff: Int64) -> Bool {
            var st = stat()
            guard stat(path, &st) == 0 else { return false }
            return Int64(st.st_mtim.tv_sec) * 1000 < cutoff
        }
        for path in paths where old(path, olderThanMs) && unlink(path) == 0 { removed += 1 }
        if let dir = opendir(tmp) {
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                guard name.hasSuffix(".part") else { continue }
                let path = tmp + "/" + name
                if old(path, partsOlderThanMs) && unlink(path) == 0 { removed += 1 }
            }
            closedir(dir)
        }
        return removed
    }
}

/// Writes one upload to its `.part` file.
final class DiskUpload: BlobUpload, @unchecked Sendable {
    // @unchecked: driven by one upload on one loop; the worker-pool steps it submits run one at a
    // time (the next is submitted only from the previous one's completion).
    let store: DiskBlobStore
    let temp: String
    var fd: Int32
    var finished = false

    init(store: DiskBlobStore, temp: String, fd: Int32) {
        self.store = store
        self.temp = temp
        self.fd = fd
    }

    deinit { if !finished { Self.discard(fd, temp) } }

    func write(_ chunk: [UInt8], seq: Int, hash: SHA256Stream, on loop: EventLoop, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        let fd = self.fd, chunkBytes = store.chunkBytes
        loop.submit({ () -> String? in
            chunk.withUnsafeBytes { bytes in
                hash.update(bytes)
                var offset = 0
                while offset < bytes.count {
                    let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        return "cannot write the upload: \(Blobs.errnoText())"
                    }
                    offset += n
                }
                // Start writing this chunk back now (not waiting for it): the fsync at the seal
                // then has little left to flush, instead of the whole file at once. Every chunk
                // before this one was whole, so this one starts at seq × chunkBytes.
                startWriteback(fd, offset: Int64(seq) * Int64(chunkBytes), count: Int64(bytes.count))
                return nil
            }
        }) { problem in
            if let problem { return done(.failure(.unavailable(problem))) }
            done(.success(()))
        }
    }

    func seal(sha256: [UInt8], on loop: EventLoop, _ done: @escaping (Result<Int64?, StoreError>) -> Void) {
        let (directory, final) = store.path(of: sha256)
        let fd = self.fd, temp = self.temp
        let blobs = store.root + "/blobs"
        finished = true
        loop.submit({ () -> String? in
            defer { Glibc.close(fd) }
            guard fsync(fd) == 0 else { unlink(temp); return "cannot flush the upload: \(Blobs.errnoText())" }
            var created = false
            if mkdir(directory, 0o750) == 0 { created = true } else if errno != EEXIST {
                unlink(temp)
                return "cannot create \(directory): \(Blobs.errnoText())"
            }
            // Same bytes already stored: replacing them keeps one copy and refreshes its time,
            // which the sweep's grace reads.
            guard rename(temp, final) == 0 else { unlink(temp); return "cannot store the upload: \(Blobs.errnoText())" }
            for dir in created ? [directory, blobs] : [directory] {
                let d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                guard d >= 0 else { return "cannot open \(dir): \(Blobs.errnoText())" }
                defer { Glibc.close(d) }
                guard fsync(d) == 0 else { return "cannot flush \(dir): \(Blobs.errnoText())" }
            }
            return nil
        }) { problem in
            if let problem { return done(.failure(.unavailable(problem))) }
            done(.success(nil))
        }
    }

    func abort(on loop: EventLoop) {
        guard !finished else { return }
        finished = true
        let fd = self.fd, temp = self.temp
        loop.submit({ DiskUpload.discard(fd, temp) }) { _ in }
    }

    static func discard(_ fd: Int32, _ temp: String) {
        Glibc.close(fd)
        unlink(temp)
    }
}

final class DiskReader: BlobReader, @unchecked Sendable {
    // @unchecked: one download on one loop; its reads are submitted one after another.
    var fd: Int32

    init(fd: Int32) { self.fd = fd }

    deinit { close() }

    func read(offset: Int, count: Int, hash: SHA256Stream?, on loop: EventLoop, _ done: @escaping (Result<[UInt8], StoreError>) -> Void) {
        let fd = self.fd
        guard fd >= 0 else { return done(.failure(.unavailable("the file is closed"))) }
        loop.submit({ () -> [UInt8]? in
            var out = [UInt8](repeating: 0, count: count)
            var got = 0
            let ok = out.withUnsafeMutableBytes { buffer -> Bool in
                while got < count {
                    let n = pread(fd, buffer.baseAddress! + got, count - got, off_t(offset + got))
                    if n < 0 { if errno == EINTR { continue }; return false }
                    if n == 0 { break }
                    got += n
                }
                return true
            }
            guard ok else { return nil }
            if got < count { out.removeLast(count - got) }
            out.withUnsafeBytes { hash?.update($0) }
            return out
        }) { bytes in
            guard let bytes else { return done(.failure(.unavailable("cannot read the file: \(Blobs.errnoText())"))) }
            done(.success(bytes))
        }
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }
}

// MARK: - PostgreSQL

/// Blobs as 1 MiB rows of `file_blob_chunks`: every replica reads the same bytes through the
/// database it already trusts, with no shared disk. An upload writes an incomplete blob chunk by
/// chunk (each insert durable on its own, so no transaction stays open while a client sends)
/// and completes it in the unit that commits the version.
final class DatabaseBlobStore: BlobStore {
    let store: Store
    let chunkBytes = Blobs.chunkBytes

    init(store: Store) { self.store = store }

    func startUpload(on loop: EventLoop, _ done: @escaping (Result<any BlobUpload, StoreError>) -> Void) {
        store.beginBlob(chunkBytes: chunkBytes, on: loop) { [store] result in
            done(result.map { DatabaseUpload(store: store, blobID: $0) })
        }
    }

    func openRead(_ file: StoredFile, on loop: EventLoop, _ done: @escaping (Result<any BlobReader, StoreError>) -> Void) {
        done(.success(DatabaseReader(store: store, blobID: file.blobID, chunkBytes: file.chunkBytes)))
    }

    func sweep(store: Store, on loop: EventLoop, _ done: @escaping (Result<Int, StoreError>) -> Void) {
        let now = Store.now
        store.sweepFileBlobs(unreferencedBefore: now - Blobs.unreferencedGraceMs, incompleteBefore: now - Blobs.incompleteGraceMs,
                             on: loop) { done($0.map(\.count)) }
    }
}

final class DatabaseUpload: BlobUpload {
    let store: Store
    let blobID: Int64
    var finished = false

    init(store: Store, blobID: Int64) {
        self.store = store
        self.blobID = blobID
    }

    func write(_ chunk: [UInt8], seq: Int, hash: SHA256Stream, on loop: EventLoop, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        loop.submit({ chunk.withUnsafeBytes { hash.update($0) } }) { [store, blobID] in
            store.putBlobChunk(blobID: blobID, seq: seq, data: chunk, on: loop, done)
        }
    }

    func seal(sha256: [UInt8], on loop: EventLoop, _ done: @escaping (Result<Int64?, StoreError>) -> Void) {
        finished = true
        done(.success(blobID))
    }

    func abort(on loop: EventLoop) {
        guard !finished else { return }
        finished = true
        store.discardBlob(id: blobID, on: loop) { _ in }
    }
}

/// Reads chunk by chunk, keeping the last one for reads that continue inside it.
final class DatabaseReader: BlobReader {
    let store: Store
    let blobID: Int64
    let chunkBytes: Int
    var cached: (seq: Int, bytes: [UInt8])?

    init(store: Store, blobID: Int64, chunkBytes: Int) {
        self.store = store
        self.blobID = blobID
        self.chunkBytes = chunkBytes
    }

    func read(offset: Int, count: Int, hash: SHA256Stream?, on loop: EventLoop, _ done: @escaping (Result<[UInt8], StoreError>) -> Void) {
        let seq = offset / chunkBytes
        let within = offset - seq * chunkBytes
        func slice(_ bytes: [UInt8]) -> [UInt8] {
            if within == 0 && count >= bytes.count { return bytes }
            guard within < bytes.count else { return [] }
            return Array(bytes[within..<min(bytes.count, within + count)])
        }
        func hashed(_ piece: [UInt8]) {
            guard let hash else { return done(.success(piece)) }
            loop.submit({ piece.withUnsafeBytes { hash.update($0) } }) { done(.success(piece)) }
        }
        if let cached, cached.seq == seq { return hashed(slice(cached.bytes)) }
        store.blobChunk(blobID: blobID, seq: seq, on: loop) { [self] result in
            switch result {
            case .failure(let error): done(.failure(error))
            case .success(let bytes):
                cached = (seq, bytes)
                hashed(slice(bytes))
            }
        }
    }

    func close() { cached = nil }
}
