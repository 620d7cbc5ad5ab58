import Net
import Storage

/// Chroma's answer shapes (`chromadb/api/fastapi.py` reads them; see
/// `shared/reference/chroma-v2-api.md`, section 3).
enum ChromaJSON {
    /// A collection, as `CollectionModel.from_json` reads it. `tenant` is the name the client
    /// used in its path (`default_tenant` stands for the key's tenant).
    static func collection(_ c: VectorCollection, tenant: String, into w: inout JSONWriter) {
        w.raw("{\"id\":"); w.string(c.uuid)
        w.raw(",\"name\":"); w.string(c.name)
        w.raw(",\"configuration_json\":"); configuration(c, into: &w)
        w.raw(",\"schema\":null,\"metadata\":")
        if let metadata = c.metadata { w.raw(metadata) } else { w.raw("null") }
        w.raw(",\"dimension\":")
        if let d = c.dimension { w.number(d) } else { w.raw("null") }
        w.raw(",\"tenant\":"); w.string(tenant)
        w.raw(",\"database\":"); w.string(c.database)
        w.raw(",\"log_position\":0,\"version\":0}")
    }

    /// The configuration the client sent (its embedding function comes back from it), with
    /// `hnsw` saying what the index really uses.
    static func configuration(_ c: VectorCollection, into w: inout JSONWriter) {
        w.raw("{\"hnsw\":{\"space\":"); w.string(c.metric.rawValue)
        w.raw(",\"ef_construction\":"); w.number(c.efConstruction)
        w.raw(",\"ef_search\":"); w.number(c.efSearch)
        w.raw(",\"max_neighbors\":"); w.number(c.m)
        w.raw("},\"spann\":null,\"embedding_function\":")
        if let stored = c.configuration, let value = try? JSONParser.parse(Array(stored.utf8)), case .object(let object) = value,
           let ef = object["embedding_function"], ef != .null {
            JSONValueWriter.write(ef, into: &w)
        } else {
            w.raw("{\"type\":\"legacy\"}")
        }
        w.raw("}")
    }

    static func includeList(_ include: Include, distances: Bool, into w: inout JSONWriter) {
        w.raw("[")
        var first = true
        func name(_ s: StaticString) {
            if !first { w.raw(",") }
            first = false
            w.raw("\""); w.raw(s); w.raw("\"")
        }
        if include.contains(.documents) { name("documents") }
        if include.contains(.embeddings) { name("embeddings") }
        if include.contains(.metadatas) { name("metadatas") }
        if distances && include.contains(.distances) { name("distances") }
        if include.contains(.uris) { name("uris") }
        w.raw("]")
    }

    static func floats(_ v: [Float], into w: inout JSONWriter) {
        w.raw("[")
        for (i, x) in v.enumerated() {
            if i > 0 { w.raw(",") }
            w.number(x)
        }
        w.raw("]")
    }

    static func metadata(_ m: Metadata, into w: inout JSONWriter) {
        // Chroma answers null, not {}, for a record without metadata.
        if m.isEmpty { w.raw("null") } else { m.write(into: &w) }
    }

    static func document(_ d: String?, into w: inout JSONWriter) {
        if let d { w.string(d) } else { w.raw("null") }
    }

    /// `GetResponse`: flat lists, null for what was not included.
    static func get(_ records: [FoundRecord], include: Include) -> [UInt8] {
        var w = JSONWriter(capacity: 64 + records.count * 64)
        w.raw("{\"ids\":[")
        for (i, r) in records.enumerated() {
            if i > 0 { w.raw(",") }
            w.string(r.id)
        }
        w.raw("],\"embeddings\":")
        column(records, include.contains(.embeddings), into: &w) { r, w in
            if let v = r.vector { floats(v, into: &w) } else { w.raw("null") }
        }
        w.raw(",\"documents\":")
        column(records, include.contains(.documents), into: &w) { r, w in document(r.entry.document, into: &w) }
        w.raw(",\"metadatas\":")
        column(records, include.contains(.metadatas), into: &w) { r, w in metadata(r.entry.metadata, into: &w) }
        w.raw(",\"uris\":")
        column(records, include.contains(.uris), into: &w) { _, w in w.raw("null") }
        w.raw(",\"include\":")
        includeList(include, distances: false, into: &w)
        w.raw("}\n")
        return w.bytes
    }

    /// `QueryResponse`: one inner list per query vector.
    static func query(_ results: [[Neighbour]], include: Include) -> [UInt8] {
        var w = JSONWriter(capacity: 128 + results.count * 256)
        w.raw("{\"ids\":[")
        for (i, row) in results.enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("[")
            for (j, n) in row.enumerated() {
                if j > 0 { w.raw(",") }
                w.string(n.id)
            }
            w.raw("]")
        }
        w.raw("],\"distances\":")
        nested(results, include.contains(.distances), into: &w) { n, w in w.number(n.distance) }
        w.raw(",\"embeddings\":")
        nested(results, include.contains(.embeddings), into: &w) { n, w in
            if let v = n.vector { floats(v, into: &w) } else { w.raw("null") }
        }
        w.raw(",\"documents\":")
        nested(results, include.contains(.documents), into: &w) { n, w in document(n.entry.document, into: &w) }
        w.raw(",\"metadatas\":")
        nested(results, include.contains(.metadatas), into: &w) { n, w in metadata(n.entry.metadata, into: &w) }
        w.raw(",\"uris\":")
        nested(results, include.contains(.uris), into: &w) { _, w in w.raw("null") }
        w.raw(",\"include\":")
        includeList(include, distances: true, into: &w)
        w.raw("}\n")
        return w.bytes
    }

    private static func column(_ records: [FoundRecord], _ included: Bool, into w: inout JSONWriter,
                               _ item: (FoundRecord, inout JSONWriter) -> Void) {
        guard included else { return w.raw("null") }
        w.raw("[")
        for (i, r) in records.enumerated() {
            if i > 0 { w.raw(",") }
            item(r, &w)
        }
        w.raw("]")
    }

    private static func nested(_ results: [[Neighbour]], _ included: Bool, into w: inout JSONWriter,
                               _ item: (Neighbour, inout JSONWriter) -> Void) {
        guard included else { return w.raw("null") }
        w.raw("[")
        for (i, row) in results.enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("[")
            for (j, n) in row.enumerated() {
                if j > 0 { w.raw(",") }
                item(n, &w)
            }
            w.raw("]")
        }
        w.raw("]")
    }
}

