import Net

extension Store {
    static let collectionColumns = "id, tenant_id, name, dimension, metric, m, ef_construction, last_seq, created_at"
    static let insertCollection = Query("collection_insert", """
        INSERT INTO collections (tenant_id, name, dimension, metric, m, ef_construction, last_seq, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, 0, $7) RETURNING \(collectionColumns)
        """, parameters: 7)
    static let selectCollection = Query("collection_select",
        "SELECT \(collectionColumns) FROM collections WHERE tenant_id = $1 AND name = $2", parameters: 2)
    static let listCollections = Query("collection_list",
        "SELECT \(collectionColumns) FROM collections WHERE tenant_id = $1 ORDER BY name", parameters: 1)
    static let deleteCollection = Query("collection_delete",
        "DELETE FROM collections WHERE tenant_id = $1 AND name = $2", parameters: 2)

    public func createCollection(tenantID: String, name: String, dimension: Int, metric: CollectionMetric,
                                 m: Int = 16, efConstruction: Int = 200, on loop: EventLoop,
                                 _ done: @escaping (Result<VectorCollection, StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in
            try Validation.tenantID(tenantID)
            try Validation.identifier(name, "collection name", maximumBytes: Validation.maximumNameBytes)
            guard (1...Validation.maximumDimension).contains(dimension) else {
                throw .invalid("dimension must be between 1 and \(Validation.maximumDimension)")
            }
            guard (2...128).contains(m) else { throw .invalid("m must be between 2 and 128") }
            guard (1...4096).contains(efConstruction) else { throw .invalid("ef_construction must be between 1 and 4096") }
        }) else { return }
        let statement = Store.insertCollection(.text(tenantID), .text(name), .integer(Int64(dimension)), .text(metric.rawValue),
                                               .integer(Int64(m)), .integer(Int64(efConstruction)), .integer(Store.now))
        backend.run([statement], readOnly: false, on: loop) { result in
            switch result {
            case .failure(.conflict): done(.failure(.conflict("collection \(Validation.quoted(name)) exists")))
            case .failure(let error): done(.failure(error))
            case .success(let results):
                done(Result(catching: { () throws(StoreError) in
                    guard let row = results[0].rows.first else { throw .internalError("insert returned no row") }
                    return try Store.collection(row)
                }))
            }
        }
    }

    public func collection(tenantID: String, name: String, on loop: EventLoop,
                           _ done: @escaping (Result<VectorCollection, StoreError>) -> Void) {
        unit([Store.selectCollection(.text(tenantID), .text(name))], readOnly: true, on: loop, done) { results throws(StoreError) in
            guard let row = results[0].rows.first else { throw .notFound("collection \(Validation.quoted(name))") }
            return try Store.collection(row)
        }
    }

    public func collections(tenantID: String, on loop: EventLoop, _ done: @escaping (Result<[VectorCollection], StoreError>) -> Void) {
        unit([Store.listCollections(.text(tenantID))], readOnly: true, on: loop, done) { results throws(StoreError) in
            try results[0].rows.map(Store.collection)
        }
    }

    /// Deletes a collection with its records and change log.
    public func deleteCollection(tenantID: String, name: String, on loop: EventLoop, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        unit([Store.deleteCollection(.text(tenantID), .text(name))], on: loop, done) { results throws(StoreError) in
            guard results[0].affected > 0 else { throw .notFound("collection \(Validation.quoted(name))") }
        }
    }

    static func collection(_ row: [SQLValue]) throws(StoreError) -> VectorCollection {
        guard let metric = CollectionMetric(rawValue: try row.text(4)) else { throw .internalError("unknown metric in collections") }
        return VectorCollection(id: try row.integer(0), tenantID: try row.text(1), name: try row.text(2),
                                dimension: Int(try row.integer(3)), metric: metric, m: Int(try row.integer(5)),
                                efConstruction: Int(try row.integer(6)), lastSequence: try row.integer(7),
                                createdAt: try row.integer(8))
    }
}
