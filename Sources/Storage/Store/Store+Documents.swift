import Net

extension Store {
    static let documentColumns = "id, tenant_id, title, body, metadata, version, created_at, updated_at"
    static let insertDocument = Query("document_insert", """
        INSERT INTO documents (tenant_id, title, body, metadata, version, created_at, updated_at)
        VALUES ($1, $2, $3, $4, 1, $5, $5) RETURNING \(documentColumns)
        """, parameters: 5)
    static let selectDocument = Query("document_select",
        "SELECT \(documentColumns) FROM documents WHERE tenant_id = $1 AND id = $2", parameters: 2)
    static let listDocuments = Query("document_list",
        "SELECT \(documentColumns) FROM documents WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3", parameters: 3)
    static let updateDocument = Query("document_update", """
        UPDATE documents SET title = $4, body = $5, metadata = $6, version = version + 1, updated_at = $7
        WHERE tenant_id = $1 AND id = $2 AND version = $3 RETURNING \(documentColumns)
        """, parameters: 7)
    static let documentVersion = Query("document_version",
        "SELECT version FROM documents WHERE tenant_id = $1 AND id = $2", parameters: 2)
    static let documentHistory = Query("document_history", """
        SELECT v.document_id, v.version, v.title, v.body, v.metadata, v.created_at
        FROM document_versions v JOIN documents d ON d.id = v.document_id
        WHERE d.tenant_id = $1 AND v.document_id = $2 ORDER BY v.version
        """, parameters: 2)
    static let deleteDocument = Query("document_delete",
        "DELETE FROM documents WHERE tenant_id = $1 AND id = $2", parameters: 2)

    /// Creates version 1 of a document (its history starts with it).
    public func createDocument(tenantID: String, title: String, body: String, metadata: String?,
                               on loop: EventLoop, _ done: @escaping (Result<Document, StoreError>) -> Void) {
        var metadataText = "{}"
        guard validate(done, { () throws(StoreError) in
            try Validation.tenantID(tenantID)
            try Validation.text(title, "title")
            try Validation.text(body, "body")
            metadataText = try Validation.metadata(metadata)
        }) else { return }
        let statement = Store.insertDocument(.text(tenantID), .text(title), .text(body), .json(metadataText), .integer(Store.now))
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

    /// Documents in id order after `after` (exclusive), at most `limit` (1…1000).
    public func documents(tenantID: String, after: Int64?, limit: Int, on loop: EventLoop,
                          _ done: @escaping (Result<Page<Document>, StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in
            guard (1...1000).contains(limit) else { throw .invalid("limit must be between 1 and 1000") }
        }) else { return }
        let statement = Store.listDocuments(.text(tenantID), .integer(after ?? 0), .integer(Int64(limit)))
        unit([statement], readOnly: true, on: loop, done) { results throws(StoreError) in
            let items = try results[0].rows.map(Store.document)
            return Page(items: items, next: items.count == limit ? items.last?.id : nil)
        }
    }

    /// Replaces a document's content if its current version is `expectedVersion`; otherwise
    /// `conflict` naming the current version. The previous content stays in the history.
    public func updateDocument(tenantID: String, id: Int64, expectedVersion: Int64, title: String, body: String,
                               metadata: String?, on loop: EventLoop, _ done: @escaping (Result<Document, StoreError>) -> Void) {
        var metadataText = "{}"
        guard validate(done, { () throws(StoreError) in
            try Validation.text(title, "title")
            try Validation.text(body, "body")
            metadataText = try Validation.metadata(metadata)
        }) else { return }
        let statement = Store.updateDocument(.text(tenantID), .integer(id), .integer(expectedVersion), .text(title),
                                             .text(body), .json(metadataText), .integer(Store.now))
        backend.run([statement], readOnly: false, on: loop) { [self] result in
            switch result {
            case .failure(let error): done(.failure(error))
            case .success(let results):
                if let row = results[0].rows.first {
                    done(Result(catching: { () throws(StoreError) in try Store.document(row) }))
                    return
                }
                // Nothing matched: tell a stale version from a missing document.
                unit([Store.documentVersion(.text(tenantID), .integer(id))], on: loop, done) { results throws(StoreError) in
                    guard let current = results[0].rows.first else { throw .notFound("document \(id)") }
                    throw .conflict("document \(id) is at version \(try current.integer(0)), not \(expectedVersion)")
                }
            }
        }
    }

    public func documentHistory(tenantID: String, id: Int64, on loop: EventLoop,
                                _ done: @escaping (Result<[DocumentVersion], StoreError>) -> Void) {
        unit([Store.documentHistory(.text(tenantID), .integer(id))], readOnly: true, on: loop, done) { results throws(StoreError) in
            guard !results[0].rows.isEmpty else { throw .notFound("document \(id)") }
            return try results[0].rows.map { row throws(StoreError) in
                DocumentVersion(documentID: try row.integer(0), version: try row.integer(1), title: try row.text(2),
                                body: try row.text(3), metadata: try row.text(4), createdAt: try row.integer(5))
            }
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
                 updatedAt: try row.integer(7))
    }
}
