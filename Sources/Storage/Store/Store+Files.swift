import Net

/// A file as the API shows it: its name and current version's content.
public struct StoredFile: Sendable, Equatable {
    public var id: Int64
    public var tenantID: String
    public var name: String
    public var version: Int64
    public var size: Int64
    public var sha256: [UInt8]
    public var contentType: String
    /// The blob holding the bytes (`file_blob_chunks` on PostgreSQL).
    public var blobID: Int64
    public var chunkBytes: Int
    public var createdAt: Int64
    /// When this version was written.
    public var updatedAt: Int64
}

/// One version of a file.
public struct StoredFileVersion: Sendable, Equatable {
    public var fileID: Int64
    public var version: Int64
    public var size: Int64
    public var sha256: [UInt8]
    public var contentType: String
    public var createdAt: Int64
}

extension Store {
    static let fileColumns = """
        f.id, f.tenant_id, f.name, v.version, v.size, v.sha256, v.content_type, v.blob_id, b.chunk_bytes, f.created_at, v.created_at
        """
    static let beginBlob = Query("file_blob_begin", """
        INSERT INTO file_blobs (chunk_bytes, complete, created_at) VALUES ($1, 0, $2) RETURNING id
        """, parameters: 2)
    static let insertBlobChunk = Query("file_blob_chunk_insert",
        "INSERT INTO file_blob_chunks (blob_id, seq, data) VALUES ($1, $2, $3)", parameters: 3)
    static let selectBlobChunk = Query("file_blob_chunk_select",
        "SELECT data FROM file_blob_chunks WHERE blob_id = $1 AND seq = $2", parameters: 2)
    /// The blob an upload streamed into becomes the one for its hash, unless another already is
    /// (the same bytes uploaded before): then it stays incomplete and is dropped below.
    static let completeBlob = Query("file_blob_complete", """
        UPDATE file_blobs SET sha256 = $2, size = $3, complete = 1
        WHERE id = $1 AND complete = 0 AND NOT EXISTS (SELECT 1 FROM file_blobs WHERE sha256 = $2 AND complete = 1)
        """, parameters: 3)
    /// A blob whose bytes live outside the database (the data directory): its row is the hash.
    static let recordBlob = Query("file_blob_record", """
        INSERT INTO file_blobs (sha256, size, chunk_bytes, complete, created_at) VALUES ($1, $2, $3, 1, $4)
        ON CONFLICT (sha256) WHERE complete = 1 DO NOTHING
        """, parameters: 4)
    static let dropIncompleteBlob = Query("file_blob_drop_incomplete",
        "DELETE FROM file_blobs WHERE id = $1 AND complete = 0", parameters: 1)
    /// Only when the blob is there: a file's version never moves without a version row to show.
    static let upsertFile = Query("file_upsert", """
        INSERT INTO files (tenant_id, name, version, created_at, updated_at)
        SELECT $1, $2, 1, $3, $3 WHERE EXISTS (SELECT 1 FROM file_blobs WHERE sha256 = $4 AND complete = 1)
        ON CONFLICT (tenant_id, name) DO UPDATE SET version = files.version + 1, updated_at = excluded.updated_at
        """, parameters: 4)
    static let insertFileVersion = Query("file_version_insert", """
        INSERT INTO file_versions (file_id, version, blob_id, sha256, size, content_type, created_at)
        SELECT f.id, f.version, b.id, $3, $4, $5, $6 FROM files f, file_blobs b
        WHERE f.tenant_id = $1 AND f.name = $2 AND b.sha256 = $3 AND b.complete = 1
        """, parameters: 6)
    static let selectFileByName = Query("file_by_name", """
        SELECT \(fileColumns) FROM files f JOIN file_versions v ON v.file_id = f.id AND v.version = f.version
        JOIN file_blobs b ON b.id = v.blob_id WHERE f.tenant_id = $1 AND f.name = $2
        """, parameters: 2)
    static let selectFile = Query("file_select", """
        SELECT \(fileColumns) FROM files f JOIN file_versions v ON v.file_id = f.id AND v.version = f.version
        JOIN file_blobs b ON b.id = v.blob_id WHERE f.tenant_id = $1 AND f.id = $2
        """, parameters: 2)
    static let selectFileAtVersion = Query("file_select_version", """
        SELECT \(fileColumns) FROM files f JOIN file_versions v ON v.file_id = f.id AND v.version = $3
        JOIN file_blobs b ON b.id = v.blob_id WHERE f.tenant_id = $1 AND f.id = $2
        """, parameters: 3)
    static let listFiles = Query("file_list", """
        SELECT \(fileColumns) FROM files f JOIN file_versions v ON v.file_id = f.id AND v.version = f.version
        JOIN file_blobs b ON b.id = v.blob_id WHERE f.tenant_id = $1 AND f.id > $2 ORDER BY f.id LIMIT $3
        """, parameters: 3)
    static let fileVersionsPage = Query("file_versions_page", """
        SELECT v.file_id, v.version, v.size, v.sha256, v.content_type, v.created_at
        FROM file_versions v JOIN files f ON f.id = v.file_id
        WHERE f.tenant_id = $1 AND v.file_id = $2 AND v.version > $3 ORDER BY v.version LIMIT $4
        """, parameters: 4)
    static let fileExists = Query("file_exists", "SELECT version FROM files WHERE tenant_id = $1 AND id = $2", parameters: 2)
    static let deleteFile = Query("file_delete", "DELETE FROM files WHERE tenant_id = $1 AND id = $2", parameters: 2)
    /// Blobs no version holds, older than the grace period (`$1`, ms) so that an upload
    /// completing now is never raced; incomplete ones (a crashed upload) after `$2`.
    static let sweepBlobs = Query("file_blob_sweep", """
        DELETE FROM file_blobs WHERE ((complete = 1 AND created_at < $1) OR (complete = 0 AND created_at < $2))
            AND NOT EXISTS (SELECT 1 FROM file_versions v WHERE v.blob_id = file_blobs.id)
        RETURNING sha256
        """, parameters: 2)

    /// Starts a blob whose bytes will be stored in the database, `chunkBytes` per chunk; its id
    /// names the chunks. Invisible until `commitFileVersion` completes it.
    public func beginBlob(chunkBytes: Int, on loop: EventLoop, _ done: @escaping (Result<Int64, StoreError>) -> Void) {
        unit([Store.beginBlob(.integer(Int64(chunkBytes)), .integer(Store.now))], on: loop, done) { results throws(StoreError) in
            guard let row = results[0].rows.first else { throw .internalError("blob insert returned no row") }
            return try row.integer(0)
        }
    }

    /// Stores chunk `seq` (from 0) of an incomplete blob; each is durable on its own, so an upload
    /// never holds a transaction open while its client sends.
    public func putBlobChunk(blobID: Int64, seq: Int, data: [UInt8], on loop: EventLoop, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        unit([Store.insertBlobChunk(.integer(blobID), .integer(Int64(seq)), .blob(data))], on: loop, done) { _ in () }
    }

    public func blobChunk(blobID: Int64, seq: Int, on loop: EventLoop, _ done: @escaping (Result<[UInt8], StoreError>) -> Void) {
        unit([Store.selectBlobChunk(.integer(blobID), .integer(Int64(seq)))], readOnly: true, on: loop, done) { results throws(StoreError) in
            guard let row = results[0].rows.first else { throw .internalError("chunk \(seq) of blob \(blobID) is missing") }
            return try row.blob(0)
        }
    }

    /// Drops an incomplete blob and its chunks (an upload that failed or was refused).
    public func discardBlob(id: Int64, on loop: EventLoop, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        unit([Store.dropIncompleteBlob(.integer(id))], on: loop, done) { _ in () }
    }

    /// Makes `sha256` (`size` bytes) the next version of the tenant's file `name` (version 1 of a
    /// new file), in one unit. `pendingBlobID` is the database blob the bytes were streamed into
    /// (nil: they live outside the database and the blob row only records the hash). Two uploads
    /// of the same new bytes at once may collide on the hash's unique index; the loser retries
    /// and finds the winner's blob.
    public func commitFileVersion(tenantID: String, name: String, contentType: String, sha256: [UInt8], size: Int64,
                                  pendingBlobID: Int64?, chunkBytes: Int, on loop: EventLoop,
                                  _ done: @escaping (Result<StoredFile, StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in
            try Validation.tenantID(tenantID)
            try Validation.fileName(name)
            try Validation.text(contentType, "content type")
            guard sha256.count == 32, size >= 0 else { throw .invalid("a blob is a SHA-256 and a size") }
        }) else { return }
        let now = Store.now
        var statements: [Statement] = []
        if let pendingBlobID {
            statements.append(Store.completeBlob(.integer(pendingBlobID), .blob(sha256), .integer(size)))
        } else {
            statements.append(Store.recordBlob(.blob(sha256), .integer(size), .integer(Int64(chunkBytes)), .integer(now)))
        }
        statements.append(Store.upsertFile(.text(tenantID), .text(name), .integer(now), .blob(sha256)))
        statements.append(Store.insertFileVersion(.text(tenantID), .text(name), .blob(sha256), .integer(size), .text(contentType), .integer(now)))
        if let pendingBlobID { statements.append(Store.dropIncompleteBlob(.integer(pendingBlobID))) }
        statements.append(Store.selectFileByName(.text(tenantID), .text(name)))
        let last = statements.count - 1
        func attempt(_ left: Int) {
            unit(statements, on: loop, { (result: Result<StoredFile, StoreError>) in
                if case .failure(.conflict) = result, left > 0 { return attempt(left - 1) }
                done(result)
            }) { results throws(StoreError) in
                // Nothing moved when the blob was gone (swept under a very slow upload).
                guard results[2].affected == 1, let row = results[last].rows.first else {
                    throw .unavailable("the upload's blob is gone; upload again")
                }
                return try Store.storedFile(row)
            }
        }
        attempt(3)
    }

    /// The file's current version, or `version` when given.
    public func file(tenantID: String, id: Int64, version: Int64? = nil, on loop: EventLoop,
                     _ done: @escaping (Result<StoredFile, StoreError>) -> Void) {
        let statement = version.map { Store.selectFileAtVersion(.text(tenantID), .integer(id), .integer($0)) }
            ?? Store.selectFile(.text(tenantID), .integer(id))
        unit([statement], readOnly: true, on: loop, done) { results throws(StoreError) in
            guard let row = results[0].rows.first else {
                throw .notFound(version.map { "version \($0) of file \(id)" } ?? "file \(id)")
            }
            return try Store.storedFile(row)
        }
    }

    /// Files in id order after `after` (exclusive), at most `limit` (1…1000).
    public func files(tenantID: String, after: Int64?, limit: Int, on loop: EventLoop,
                      _ done: @escaping (Result<Page<StoredFile>, StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in
            guard (1...1000).contains(limit) else { throw .invalid("limit must be between 1 and 1000") }
        }) else { return }
        unit([Store.listFiles(.text(tenantID), .integer(after ?? 0), .integer(Int64(limit)))], readOnly: true, on: loop, done) { results throws(StoreError) in
            let items = try results[0].rows.map(Store.storedFile)
            return Page(items: items, next: items.count == limit ? items.last?.id : nil)
        }
    }

    /// A file's versions after `after` (exclusive), oldest first, at most `limit` (1…1000).
    public func fileVersions(tenantID: String, id: Int64, after: Int64?, limit: Int, on loop: EventLoop,
                             _ done: @escaping (Result<Page<StoredFileVersion>, StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in
            guard (1...1000).contains(limit) else { throw .invalid("limit must be between 1 and 1000") }
        }) else { return }
        let statements = [Store.fileVersionsPage(.text(tenantID), .integer(id), .integer(after ?? 0), .integer(Int64(limit))),
                          Store.fileExists(.text(tenantID), .integer(id))]
        unit(statements, readOnly: true, on: loop, done) { results throws(StoreError) in
            guard !results[1].rows.isEmpty else { throw .notFound("file \(id)") }
            let items = try results[0].rows.map { row throws(StoreError) in
                StoredFileVersion(fileID: try row.integer(0), version: try row.integer(1), size: try row.integer(2),
                                  sha256: try row.blob(3), contentType: try row.text(4), createdAt: try row.integer(5))
            }
            return Page(items: items, next: items.count == limit ? items.last?.version : nil)
        }
    }

    /// Deletes the file and its versions; the blobs go with the next sweep once nothing holds them.
    public func deleteFile(tenantID: String, id: Int64, on loop: EventLoop, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        unit([Store.deleteFile(.text(tenantID), .integer(id))], on: loop, done) { results throws(StoreError) in
            guard results[0].affected > 0 else { throw .notFound("file \(id)") }
        }
    }

    /// Removes blobs no version holds (created before `unreferencedBefore`) and incomplete ones
    /// (crashed uploads, started before `incompleteBefore`); returns the hashes of complete ones
    /// removed, whose bytes outside the database the caller deletes.
    public func sweepFileBlobs(unreferencedBefore: Int64, incompleteBefore: Int64, on loop: EventLoop,
                               _ done: @escaping (Result<[[UInt8]], StoreError>) -> Void) {
        unit([Store.sweepBlobs(.integer(unreferencedBefore), .integer(incompleteBefore))], on: loop, done) { results throws(StoreError) in
            results[0].rows.compactMap { $0.first?.bytes }
        }
    }

    static func storedFile(_ row: [SQLValue]) throws(StoreError) -> StoredFile {
        StoredFile(id: try row.integer(0), tenantID: try row.text(1), name: try row.text(2), version: try row.integer(3),
                   size: try row.integer(4), sha256: try row.blob(5), contentType: try row.text(6), blobID: try row.integer(7),
                   chunkBytes: Int(try row.integer(8)), createdAt: try row.integer(9), updatedAt: try row.integer(10))
    }
}
