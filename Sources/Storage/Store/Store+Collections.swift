import Net

extension Store {
    static let collectionColumns = """
        id, tenant_id, database_name, name, uuid, dimension, metric, m, ef_construction, ef_search, metadata, configuration,
        last_seq, created_at
        """
    static let insertCollection = Query("collection_insert", """
        INSERT INTO collections (tenant_id, database_name, name, uuid, dimension, metric, m, ef_construction, ef_search,
                                 metadata, configuration, last_seq, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, $12) RETURNING \(collectionColumns)
        """, parameters: 12)
    static let selectCollection = Query("collection_select",
        "SELECT \(collectionColumns) FROM collections WHERE tenant_id = $1 AND database_name = $2 AND name = $3", parameters: 3)
    static let selectCollectionByUUID = Query("collection_select_uuid",
        "SELECT \(collectionColumns) FROM collections WHERE tenant_id = $1 AND uuid = $2", parameters: 2)
    static let listCollections = Query("collection_list", """
        SELECT \(collectionColumns) FROM collections WHERE tenant_id = $1 AND database_name = $2
        ORDER BY created_at, id LIMIT $3 OFFSET $4
        """, parameters: 4)
    static let countCollections = Query("collection_count",
        "SELECT count(*) FROM collections WHERE tenant_id = $1 AND database_name = $2", parameters: 2)
    static let deleteCollection = Query("collection_delete",
        "DELETE FROM collections WHERE tenant_id = $1 AND database_name = $2 AND name = $3 RETURNING uuid", parameters: 3)
    static let updateCollection = Query("collection_update", """
        UPDATE collections SET name = COALESCE($3, name), metadata = COALESCE($4, metadata), ef_search = COALESCE($5, ef_search),
               configuration = COALESCE($6, configuration)
        WHERE tenant_id = $1 AND uuid = $2 RETURNING \(collectionColumns)
        """, parameters: 6)
    static let fixDimension = Query("collection_fix_dimension",
        "UPDATE collections SET dimension = COALESCE(dimension, $2) WHERE id = $1 RETURNING dimension", parameters: 2)
    static let allCollections = Query("collection_all", "SELECT \(collectionColumns) FROM collections ORDER BY id", parameters: 0)

    static let databaseColumns = "tenant_id, name, uuid, created_at"
    static let insertDatabase = Query("database_insert",
        "INSERT INTO collection_databases (\(databaseColumns)) VALUES ($1, $2, $3, $4) RETURNING \(databaseColumns)", parameters: 4)
    static let selectDatabase = Query("database_select",
        "SELECT \(databaseColumns) FROM collection_databases WHERE tenant_id = $1 AND name = $2", parameters: 2)
    static let listDatabases = Query("database_list",
        "SELECT \(databaseColumns) FROM collection_databases WHERE tenant_id = $1 ORDER BY created_at, name", parameters: 1)
    static let deleteDatabaseCollections = Query("database_delete_collections",
        "DELETE FROM collections WHERE tenant_id = $1 AND database_name = $2", parameters: 2)
    static let deleteDatabase = Query("database_delete",
        "DELETE FROM collection_databases WHERE tenant_id = $1 AND name = $2", parameters: 2)

    // MARK: Collections

    public func createCollection(tenantID: String, _ spec: CollectionSpec, on loop: EventLoop,
                                 _ done: @escaping (Result<VectorCollection, StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in
            try Validation.tenantID(tenantID)
            try Validation.identifier(spec.database, "database name", maximumBytes: Validation.maximumNameBytes)
            try Validation.identifier(spec.name, "collection name", maximumBytes: Validation.maximumNameBytes)
            if let dimension = spec.dimension, !(1...Validation.maximumDimension).contains(dimension) {
                throw .invalid("dimension must be between 1 and \(Validation.maximumDimension)")
            }
            guard (2...128).contains(spec.m) else { throw .invalid("m must be between 2 and 128") }
            guard (1...4096).contains(spec.efConstruction) else { throw .invalid("ef_construction must be between 1 and 4096") }
            guard (1...4096).contains(spec.efSearch) else { throw .invalid("ef_search must be between 1 and 4096") }
            if let metadata = spec.metadata { _ = try Validation.metadata(metadata) }
            if let configuration = spec.configuration { _ = try Validation.metadata(configuration) }
        }) else { return }
        let create = { [self] in
            let statement = Store.insertCollection(
                .text(tenantID), .text(spec.database), .text(spec.name), .text(Digests.uuid()), spec.dimension.map { .integer(Int64($0)) } ?? .null,
                .text(spec.metric.rawValue), .integer(Int64(spec.m)), .integer(Int64(spec.efConstruction)),
                .integer(Int64(spec.efSearch)), spec.metadata.map { .json($0) } ?? .null, spec.configuration.map { .json($0) } ?? .null,
                .integer(Store.now))
            backend.run([statement], readOnly: false, on: loop) { result in
                switch result {
                case .failure(.conflict): done(.failure(.conflict("collection \(Validation.quoted(spec.name)) exists")))
                case .failure(let error): done(.failure(error))
                case .success(let results):
                    done(Result(catching: { () throws(StoreError) in
                        guard let row = results[0].rows.first else { throw .internalError("insert returned no row") }
                        return try Store.collection(row)
                    }))
                }
            }
        }
        guard spec.database != CollectionDatabase.defaultName else { return create() }
        database(tenantID: tenantID, name: spec.database, on: loop) { result in
            switch result {
            case .success: create()
            case .failure(let error): done(.failure(error))
            }
        }
    }

    /// Kept for callers that predate databases: a collection in `default_database`.
    public func createCollection(tenantID: String, name: String, dimension: Int, metric: CollectionMetric,
                                 m: Int = 16, efConstruction: Int = 200, on loop: EventLoop,
                                 _ done: @escaping (Result<VectorCollection, StoreError>) -> Void) {
        createCollection(tenantID: tenantID, CollectionSpec(name: name, dimension: dimension, metric: metric, m: m,
                                                            efConstruction: efConstruction), on: loop, done)
    }

    public func collection(tenantID: String, database: String = CollectionDatabase.defaultName, name: String, on loop: EventLoop,
                           _ done: @escaping (Result<VectorCollection, StoreError>) -> Void) {
        unit([Store.selectCollection(.text(tenantID), .text(database), .text(name))], readOnly: true, on: loop, done) { results throws(StoreError) in
            guard let row = results[0].rows.first else { throw .notFound("collection \(Validation.quoted(name))") }
            return try Store.collection(row)
        }
    }

    /// The tenant's collection with this UUID; another tenant's is not found.
    public func collection(tenantID: String, uuid: String, on loop: EventLoop,
                           _ done: @escaping (Result<VectorCollection, StoreError>) -> Void) {
        unit([Store.selectCollectionByUUID(.text(tenantID), .text(uuid))], readOnly: true, on: loop, done) { results throws(StoreError) in
            guard let row = results[0].rows.first else { throw .notFound("collection \(Validation.quoted(uuid))") }
            return try Store.collection(row)
        }
    }

    public func collections(tenantID: String, database: String = CollectionDatabase.defaultName, limit: Int = 10_000, offset: Int = 0,
                            on loop: EventLoop, _ done: @escaping (Result<[VectorCollection], StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in
            guard limit >= 0, offset >= 0 else { throw .invalid("limit and offset must not be negative") }
        }) else { return }
        let statement = Store.listCollections(.text(tenantID), .text(database), .integer(Int64(min(limit, 100_000))), .integer(Int64(offset)))
        unit([statement], readOnly: true, on: loop, done) { results throws(StoreError) in
            try results[0].rows.map(Store.collection)
        }
    }

    public func countCollections(tenantID: String, database: String, on loop: EventLoop,
                                 _ done: @escaping (Result<Int, StoreError>) -> Void) {
        unit([Store.countCollections(.text(tenantID), .text(database))], readOnly: true, on: loop, done) { results throws(StoreError) in
            Int(try results[0].rows.first?.integer(0) ?? 0)
        }
    }

    /// Deletes a collection with its records and change log; returns its UUID.
    public func deleteCollection(tenantID: String, database: String = CollectionDatabase.defaultName, name: String, on loop: EventLoop,
                                 _ done: @escaping (Result<String, StoreError>) -> Void) {
        unit([Store.deleteCollection(.text(tenantID), .text(database), .text(name))], on: loop, done) { results throws(StoreError) in
            guard let row = results[0].rows.first else { throw .notFound("collection \(Validation.quoted(name))") }
            return try row.text(0)
        }
    }

    /// Renames a collection, replaces its metadata, or changes its default search breadth;
    /// nil leaves a field as it is.
    public func updateCollection(tenantID: String, uuid: String, name: String?, metadata: String?, efSearch: Int?,
                                 configuration: String? = nil,
                                 on loop: EventLoop, _ done: @escaping (Result<VectorCollection, StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in
            if let name { try Validation.identifier(name, "collection name", maximumBytes: Validation.maximumNameBytes) }
            if let metadata { _ = try Validation.metadata(metadata) }
            if let configuration { _ = try Validation.metadata(configuration) }
            if let efSearch, !(1...4096).contains(efSearch) { throw .invalid("ef_search must be between 1 and 4096") }
        }) else { return }
        let statement = Store.updateCollection(.text(tenantID), .text(uuid), name.map { .text($0) } ?? .null,
                                               metadata.map { .json($0) } ?? .null, efSearch.map { .integer(Int64($0)) } ?? .null,
                                               configuration.map { .json($0) } ?? .null)
        backend.run([statement], readOnly: false, on: loop) { result in
            switch result {
            case .failure(.conflict): done(.failure(.conflict("collection \(Validation.quoted(name ?? "")) exists")))
            case .failure(let error): done(.failure(error))
            case .success(let results):
                done(Result(catching: { () throws(StoreError) in
                    guard let row = results[0].rows.first else { throw .notFound("collection \(Validation.quoted(uuid))") }
                    return try Store.collection(row)
                }))
            }
        }
    }

    /// Fixes the dimension of a collection made without one (its first write does this);
    /// returns the collection's dimension, which a concurrent first write may have fixed first.
    public func fixDimension(_ dimension: Int, of collection: VectorCollection, on loop: EventLoop,
                             _ done: @escaping (Result<Int, StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in
            guard (1...Validation.maximumDimension).contains(dimension) else {
                throw .invalid("dimension must be between 1 and \(Validation.maximumDimension)")
            }
        }) else { return }
        unit([Store.fixDimension(.integer(collection.id), .integer(Int64(dimension)))], on: loop, done) { results throws(StoreError) in
            guard let row = results[0].rows.first else { throw .notFound("collection \(Validation.quoted(collection.name))") }
            return Int(try row.integer(0))
        }
    }

    /// Every collection of every tenant: what a follower compares its indexes with (their
    /// sequences, and the settings another replica may have modified).
    public func allCollections(on loop: EventLoop, _ done: @escaping (Result<[VectorCollection], StoreError>) -> Void) {
        unit([Store.allCollections()], readOnly: true, on: loop, done) { results throws(StoreError) in
            try results[0].rows.map(Store.collection)
        }
    }

    static func collection(_ row: [SQLValue]) throws(StoreError) -> VectorCollection {
        guard let metric = CollectionMetric(rawValue: try row.text(6)) else { throw .internalError("unknown metric in collections") }
        return VectorCollection(id: try row.integer(0), tenantID: try row.text(1), database: try row.text(2), name: try row.text(3),
                                uuid: try row.text(4), dimension: row[5] == .null ? nil : Int(try row.integer(5)), metric: metric,
                                m: Int(try row.integer(7)), efConstruction: Int(try row.integer(8)), efSearch: Int(try row.integer(9)),
                                metadata: row.optionalText(10), configuration: row.optionalText(11),
                                lastSequence: try row.integer(12), createdAt: try row.integer(13))
    }

    // MARK: Databases

    public func createDatabase(tenantID: String, name: String, on loop: EventLoop,
                               _ done: @escaping (Result<CollectionDatabase, StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in
            try Validation.tenantID(tenantID)
            try Validation.identifier(name, "database name", maximumBytes: Validation.maximumNameBytes)
            guard name != CollectionDatabase.defaultName else { throw .conflict("database \(Validation.quoted(name)) exists") }
        }) else { return }
        let statement = Store.insertDatabase(.text(tenantID), .text(name), .text(Digests.uuid()), .integer(Store.now))
        backend.run([statement], readOnly: false, on: loop) { result in
            switch result {
            case .failure(.conflict): done(.failure(.conflict("database \(Validation.quoted(name)) exists")))
            case .failure(let error): done(.failure(error))
            case .success(let results):
                done(Result(catching: { () throws(StoreError) in
                    guard let row = results[0].rows.first else { throw .internalError("insert returned no row") }
                    return try Store.database(row)
                }))
            }
        }
    }

    /// A database of the tenant; `default_database` exists in every tenant.
    public func database(tenantID: String, name: String, on loop: EventLoop,
                         _ done: @escaping (Result<CollectionDatabase, StoreError>) -> Void) {
        if name == CollectionDatabase.defaultName { return done(.success(Store.defaultDatabase(tenantID))) }
        unit([Store.selectDatabase(.text(tenantID), .text(name))], readOnly: true, on: loop, done) { results throws(StoreError) in
            guard let row = results[0].rows.first else { throw .notFound("database \(Validation.quoted(name))") }
            return try Store.database(row)
        }
    }

    public func databases(tenantID: String, on loop: EventLoop, _ done: @escaping (Result<[CollectionDatabase], StoreError>) -> Void) {
        unit([Store.listDatabases(.text(tenantID))], readOnly: true, on: loop, done) { results throws(StoreError) in
            [Store.defaultDatabase(tenantID)] + (try results[0].rows.map(Store.database))
        }
    }

    /// Deletes a database and every collection in it, in one unit.
    public func deleteDatabase(tenantID: String, name: String, on loop: EventLoop, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        guard validate(done, { () throws(StoreError) in
            guard name != CollectionDatabase.defaultName else { throw .invalid("default_database cannot be deleted") }
        }) else { return }
        let statements = [Store.deleteDatabaseCollections(.text(tenantID), .text(name)), Store.deleteDatabase(.text(tenantID), .text(name))]
        unit(statements, on: loop, done) { results throws(StoreError) in
            guard results[1].affected > 0 else { throw .notFound("database \(Validation.quoted(name))") }
        }
    }

    /// The implicit default database's identity: a UUID derived from the tenant, so every
    /// replica names it alike.
    static func defaultDatabase(_ tenantID: String) -> CollectionDatabase {
        CollectionDatabase(tenantID: tenantID, name: CollectionDatabase.defaultName,
                           uuid: Digests.uuid(derivedFrom: "default_database/" + tenantID), createdAt: 0)
    }

    static func database(_ row: [SQLValue]) throws(StoreError) -> CollectionDatabase {
        CollectionDatabase(tenantID: try row.text(0), name: try row.text(1), uuid: try row.text(2), createdAt: try row.integer(3))
    }
}
