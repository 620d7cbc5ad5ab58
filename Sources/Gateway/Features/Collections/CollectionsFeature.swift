import Net
import Storage

/// Embedding search: collections of (id, vector, metadata, document) on the HNSW index, served
/// twice over one engine — our API under `/v1/collections` (`NativeRoutes`) and Chroma's v2
/// under `/api/v2` (`ChromaRoutes`) — behind the same keys, limits and TLS as every route.
///
/// The rows are the truth (`Store`: records and the ordered change log); each replica's index
/// is derived from them (`CollectionEngine`): snapshotted, caught up from the log, rebuilt
/// from the rows when a snapshot is missing or unusable.
enum CollectionsFeature: GatewayFeature {
    static func register(on router: RouterBuilder, services: GatewayServices) {
        let engine = services.collections
        let operations = CollectionOperations(engine: engine)
        NativeRoutes.register(on: router, operations: operations)
        ChromaRoutes.register(on: router, operations: operations, services: services)
        services.lifecycle.onStart { group in
            let loop = group.loops[0]
            engine.preload(on: loop)
            engine.startFollowing(on: loop)
            engine.startSnapshots(on: loop)
        }
        services.lifecycle.onStopped { engine.writeSnapshots(on: nil) }
        services.metrics.register("collections") { text in
            let loaded = engine.loaded
            text.single("aiwriter_collections_loaded", .gauge, "Collections whose index this replica holds.", String(loaded.count))
            text.family("aiwriter_collection_records", .gauge, "Live records in a loaded collection's index.")
            for live in loaded { text.sample("aiwriter_collection_records", [("collection", live.uuid)], live.count) }
            text.family("aiwriter_collection_unlinked_records", .gauge, "Records searchable exactly, not yet linked into the graph.")
            for live in loaded { text.sample("aiwriter_collection_unlinked_records", [("collection", live.uuid)], live.pendingCount) }
            text.family("aiwriter_collection_index_bytes", .gauge, "Bytes held by a loaded collection's index.")
            for live in loaded { text.sample("aiwriter_collection_index_bytes", [("collection", live.uuid)], live.indexBytes) }
        }
    }
}
