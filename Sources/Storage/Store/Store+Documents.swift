import Net

extension Store {
    static let documentColumns = "id, tenant_id, title, body, metadata, version, created_at, updated_at, content_type"
    static let versionColumns = "v.document_id, v.version, v.title, v.body, v.metadata, v.created_at, v.content_type"
    /// The content types a document may have.
    public static let documentContentTypes: Set<String> = ["text/markdown", "text/plain", "text/html"]

    static let insertDocument = Query("document_insert", """
        INSERT INTO documents (tenant_id, title, body, metadata, version, created_at, updated_at, content_type)
        VALUES ($1, $2, $3, $4, 1, $5, $5, $6) RETURNING \(documentColumns)
        """, parameters: 6)
    static let selectDocument = Query("document_select",
        "SELECT \(documentColumns) FROM documents WHERE tenant_id = $1 AND id = $2", parameters: 2)
    /// Keyset pages in id order (new documents land after every cursor), optionally only those
    /// updated since `$4`, or whose metadata has the string `$6` under the key `$5`.
    static let listDocuments = Query("document_list", postgres: """
        SELECT \(documentColumns) FROM documents WHERE tenant_id = $1 AND id > $2
            AND ($4::bigint IS NULL OR updated_at >= $4)
            AND ($5::text IS NULL OR (jsonb_typeof(metadata -> $5::text) = 'string' AND metadata ->> $5::text = $6::text))
        ORDER BY id LIMIT $3
        """, sqlite: """
        SELECT \(documentColumns) FROM documents WHERE tenant_id = $1 AND id > $2
            AND ($4 IS NULL OR updated_at >= $4)
            AND ($5 IS NULL OR EXISTS (SELECT 1 FROM json_each(documents.metadata) WHERE key = $5 AND type = 'text' AND value = $6))
        ORDER BY id LIMIT $3
        """, parameters: 6)
    static let updateDocument = Query("document_update", """
        UPDATE documents SET title = $4, body = $5, metadata = $6, version = version + 1, updated_at = $7,
            content_type = COALESCE($8, content_type)
        WHERE tenant_id = $1 AND id = $2 AND version = $3 RETURNING \(documentColumns)
        """, parameters: 8)
    static let documentVersion = Query("document_version",
        "SELECT version FROM documents WHERE tenant_id = $1 AND id = $2", parameters: 2)
    static let documentHistory = Query("document_history", """
        SELECT \(versionColumns)
        FROM document_versions v JOIN documents d ON d.id = v.document_id
        WHERE d.tenant_id = $1 AND v.document_id = $2 ORDER BY v.version
        """, parameters: 2)
    static let documentVersionsPage = Query("document_versions_page", """
        SELECT \(versionColumns)
        FROM document_versions v JOIN documents d ON d.id = v.document_id
        WHERE d.tenant_id = $1 AND v.document_id = $2 AND v.version > $3 ORDER BY v.version LIMIT $4
        """, parameters: 4)
    static let selectDocumentVersion = Query("document_version_select", """
        SELECT \(versionColumns)
        FROM document_versions v JOIN documents d ON d.id = v.document_id
        WHERE d.tenant_id = $1 AND v.document_id = $2 AND v.version = $3
        """, parameters: 3)
    /// An old version's content as a new version, in one statement (so no write can come
    /// between reading the old version and writing the new one); `$4` is the version the
    /// caller saw, or null.
    static let restoreDocument = Query("document_restore", postgres: """
        UPDATE documents d SET title = v.title, body = v.body, metadata = v.metadata, content_type = v.content_type,
            version = d.version + 1, updated_at = $5
        FROM document_versions v
        WHERE d.tenant_id = $1 AND d.id = $2 AND v.document_id = d.id AND v.version = $3 AND ($4::bigint IS NULL OR d.version = $4)
        RETURNING d.id, d.tenant_id, d.title, d.body, d.metadata, d.version, d.created_at, d.updated_at, d.content_type
        """, sqlite: """
        UPDATE documents SET title = v.title, body = v.body, metadata = v.metadata, content_type = v.content_type,
            version = documents.version + 1, updated_at = $5
        FROM document_versions v
        WHERE documents.tenant_id = $1 AND documents.id = $2 AND v.document_id = documents.id AND v.version = $3
            AND ($4 IS NULL OR documents.version = $4)
        RETURNING \(documentColumns)
        """, parameters: 5)
    static let deleteDocument = Query("document_delete",
        "DELETE FROM documents WHERE tenant_id = $1 AND id = $2", parameters: 2)

    static func contentType(_ value: String) throws(StoreError) {
        guard documentContentTypes.contains(value) else {
            throw .invalid("content type must be text/markdown, text/plain or text/html")
        }
    }

    /// Creates version 1 of a document (its history starts with it).
    public func createDocument(tenantID: String, title: String, body: String, contentType: String = "text/markdown", metadata: String?,
                               on loop: EventLoop, _ done: @escaping (Result<Document, StoreError>) -> Void) {
        var metadataText = "{}"
        guard validate(done, { () throws(StoreError) in
            try Validation.tenantID(tenantID)
            try Validation.text(title, "title")
            try Validation.text(body, "body")
            try Store.contentType(contentType)
            metadataText = try Validation.metadata(metadata)
        }) else { return }
        let statement = Store.insertDocument(.text(tenantID), .text(title), .text(body), .json(metadataText), .integer(Store.now), .text(contentType))
        unit([statement], on: loop, done) { results throws(StoreError) in
            guard let row = results[0].rows.first else { throw .internalError("insert returned no row") }
            return try Store.document(row)
        }
    }

    public func document(tenantID: String, id: Int64, on loop: EventLoop, _ done: @escaping (Result<Document, StoreError>) -> Void) {
        unit([Store.selectDocument(.text(tenantID), .integer(id))], readOnly: true, on: loop, done) { results throws(StoreError) in
            guard let row = results[0].rows.first else { throw .notFound("document \(id)") }
            return try Store.document(row)
        }
    }

    /// Documents in id order after `after` (exclusive), at most `limit` (1…1000); only those
    /// updated at or after `updatedSince` (ms), and only those whose metadata holds the string
    /// `metadataValue` under `metadataKey`, when given.
    public func documents(tenantID: String, after: Int64?, limit: Int, updatedSince: Int64? = nil,
                          metadataKey: String? = nil, metadataValue: String? = nil, on loop: EventLoop,
                          _ done: @escaping (Result<Page<Document>, StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in
            guard (1...1000).contains(limit) else { throw .invalid("limit must be between 1 and 1000") }
            guard (metadataKey == nil) == (metadataValue == nil) else { throw .invalid("a metadata filter needs a key and a value") }
            if let metadataKey { try Validation.text(metadataKey, "metadata key") }
            if let metadataValue { try Validation.text(metadataValue, "metadata value") }
        }) else { return }
        let statement = Store.listDocuments(.text(tenantID), .integer(after ?? 0), .integer(Int64(limit)),
                                            updatedSince.map { .integer($0) } ?? .null,
                                            metadataKey.map { .text($0) } ?? .null, metadataValue.map { .text($0) } ?? .null)
        unit([statement], readOnly: true, on: loop, done) { results throws(StoreError) in
            let items = try results[0].rows.map(Store.document)
            return Page(items: items, next: items.count == limit ? items.last?.id : nil)
        }
    }

    /// Replaces a document's content if its current version is `expectedVersion`; otherwise
    /// `conflict` naming the current version. The previous content stays in the history.
    /// `contentType` nil keeps the current one.
    public func updateDocument(tenantID: String, id: Int64, expectedVersion: Int64, title: String, body: String,
                               contentType: String? = nil, metadata: String?, on loop: EventLoop,
                               _ done: @escaping (Result<Document, StoreError>) -> Void) {
        var metadataText = "{}"
        guard validate(done, { () throws(StoreError) in
            try Validation.text(title, "title")
            try Validation.text(body, "body")
            if let contentType { try Store.contentType(contentType) }
            metadataText = try Validation.metadata(metadata)
        }) else { return }
        let statement = Store.updateDocument(.text(tenantID), .integer(id), .integer(expectedVersion), .text(title),
                                             .text(body), .json(metadataText), .integer(Store.now), contentType.map { .text($0) } ?? .null)
        guardedWrite(statement, tenantID: tenantID, id: id, expectedVersion: expectedVersion, on: loop, done)
    }

    /// Runs a write guarded by the version (`UPDATE … WHERE version = $n RETURNING …`); when it
    /// matched nothing, tells a stale version (`conflict`) from a missing document or version.
    func guardedWrite(_ statement: Statement, tenantID: String, id: Int64, expectedVersion: Int64?, version: Int64? = nil,
                      on loop: EventLoop, _ done: @escaping (Result<Document, StoreError>) -> Void) {
        backend.run([statement], readOnly: false, on: loop) { [self] result in
            switch result {
            case .failure(let error): done(.failure(error))
            case .success(let results):
                if let row = results[0].rows.first {
                    done(Result(catching: { () throws(StoreError) in try Store.document(row) }))
                    return
                }
                staleOrMissing(tenantID: tenantID, id: id, expectedVersion: expectedVersion, version: version, on: loop, done)
            }
        }
    }

    func staleOrMissing(tenantID: String, id: Int64, expectedVersion: Int64?, version: Int64?, on loop: EventLoop,
                        _ done: @escaping (Result<Document, StoreError>) -> Void) {
        unit([Store.documentVersion(.text(tenantID), .integer(id))], on: loop, done) { results throws(StoreError) in
            guard let current = results[0].rows.first else { throw .notFound("document \(id)") }
            let at = try current.integer(0)
            if let expectedVersion, at != expectedVersion { throw .conflict("document \(id) is at version \(at), not \(expectedVersion)") }
            throw .notFound("version \(version ?? 0) of document \(id)")
        }
    }

    /// Makes version `version` current again, as a new version (the history keeps everything);
    /// `expectedVersion`, when given, must be the current one.
    public func restoreDocument(tenantID: String, id: Int64, version: Int64, expectedVersion: Int64?, on loop: EventLoop,
                                _ done: @escaping (Result<Document, StoreError>) -> Void) {
        let statement = Store.restoreDocument(.text(tenantID), .integer(id), .integer(version),
                                              expectedVersion.map { .integer($0) } ?? .null, .integer(Store.now))
        guardedWrite(statement, tenantID: tenantID, id: id, expectedVersion: expectedVersion, version: version, on: loop, done)
    }

    public func documentHistory(tenantID: String, id: Int64, on loop: EventLoop,
                                _ done: @escaping (Result<[DocumentVersion], StoreError>) -> Void) {
        unit([Store.documentHistory(.text(tenantID), .integer(id))], readOnly: true, on: loop, done) { results throws(StoreError) in
            guard !results[0].rows.isEmpty else { throw .notFound("document \(id)") }
            return try results[0].rows.map(Store.documentVersion)
        }
    }

    /// A document's versions after `after` (exclusive), oldest first, at most `limit` (1…1000).
    public func documentVersions(tenantID: String, id: Int64, after: Int64?, limit: Int, on loop: EventLoop,
                                 _ done: @escaping (Result<Page<DocumentVersion>, StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in
            guard (1...1000).contains(limit) else { throw .invalid("limit must be between 1 and 1000") }
        }) else { return }
        let statements = [Store.documentVersionsPage(.text(tenantID), .integer(id), .integer(after ?? 0), .integer(Int64(limit))),
                          Store.documentVersion(.text(tenantID), .integer(id))]
        unit(statements, readOnly: true, on: loop, done) { results throws(StoreError) in
            guard !results[1].rows.isEmpty else { throw .notFound("document \(id)") }
            let items = try results[0].rows.map(Store.documentVersion)
            return Page(items: items, next: items.count == limit ? items.last?.version : nil)
        }
    }

    public func documentVersion(tenantID: String, id: Int64, version: Int64, on loop: EventLoop,
                                _ done: @escaping (Result<DocumentVersion, StoreError>) -> Void) {
        unit([Store.selectDocumentVersion(.text(tenantID), .integer(id), .integer(version))], readOnly: true, on: loop, done) { results throws(StoreError) in
            guard let row = results[0].rows.first else { throw .notFound("version \(version) of document \(id)") }
            return try Store.documentVersion(row)
        }
    }

    public func deleteDocument(tenantID: String, id: Int64, on loop: EventLoop, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        unit([Store.deleteDocument(.text(tenantID), .integer(id))], on: loop, done) { results throws(StoreError) in
            guard results[0].affected > 0 else { throw .notFound("document \(id)") }
        }
    }

    static func document(_ row: [SQLValue]) throws(StoreError) -> Document {
        Document(id: try row.integer(0), tenantID: try row.text(1), title: try row.text(2), body: try row.text(3),
                 metadata: try row.text(4), version: try row.integer(5), createdAt: try row.integer(6),
                 updatedAt: try row.integer(7), contentType: try row.text(8))
    }

    static func documentVersion(_ row: [SQLValue]) throws(StoreError) -> DocumentVersion {
        DocumentVersion(documentID: try row.integer(0), version: try row.integer(1), title: try row.text(2),
                        body: try row.text(3), metadata: try row.text(4), createdAt: try row.integer(5), contentType: try row.text(6))
    }
}
