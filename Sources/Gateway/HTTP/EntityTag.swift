/// Entity tags of versioned resources and the `If-Match` / `If-None-Match` lists that name them
/// (RFC 9110 §8.8.3, §13.1.1–2).
///
/// Why a parser of its own: a lost update is prevented only if a stale or garbled `If-Match`
/// can never read as "any". The grammar is `*` or a comma-separated list of entity-tags, each
/// `"opaque"` or `W/"opaque"` with the opaque part free of `"`, controls and DEL; anything else
/// is malformed (400), never ignored. `If-Match` compares strongly (a weak tag never matches);
/// `If-None-Match` weakly. A pure parser: no I/O, fuzzed (`Fuzz/run.sh etag`).
struct EntityTag: Equatable {
    var opaque: String
    var weak = false

    /// A document version's tag: the id and the version, so two documents never share one.
    static func version(_ id: Int64, _ version: Int64) -> EntityTag { EntityTag(opaque: "\(id)-\(version)") }

    var header: String { (weak ? "W/\"" : "\"") + opaque + "\"" }

    /// What a precondition header names.
    enum Condition: Equatable {
        case any
        case tags([EntityTag])
    }

    struct Malformed: Error, Equatable {}

    /// Parses a whole field value (every field line of the header, already joined with ",").
    static func parse(_ value: String) throws(Malformed) -> Condition {
        let bytes = Array(value.utf8)
        var i = 0
        func skipSpace() { while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 { i += 1 } }
        skipSpace()
        if i < bytes.count, bytes[i] == 0x2A {
            i += 1
            skipSpace()
            guard i == bytes.count else { throw Malformed() }
            return .any
        }
        var tags: [EntityTag] = []
        while true {
            skipSpace()
            // Empty list elements are allowed ("a, , b"); a list of none is not.
            if i < bytes.count, bytes[i] == 0x2C { i += 1; continue }
            guard i < bytes.count else { break }
            var weak = false
            if bytes[i] == 0x57 {
                guard i + 1 < bytes.count, bytes[i + 1] == 0x2F else { throw Malformed() }
                weak = true
                i += 2
            }
            guard i < bytes.count, bytes[i] == 0x22 else { throw Malformed() }
            i += 1
            let start = i
            while i < bytes.count, bytes[i] != 0x22 {
                let c = bytes[i]
                guard c == 0x21 || (c >= 0x23 && c <= 0x7E) || c >= 0x80 else { throw Malformed() }
                i += 1
            }
            guard i < bytes.count else { throw Malformed() }
            tags.append(EntityTag(opaque: String(decoding: bytes[start..<i], as: UTF8.self), weak: weak))
            i += 1
            guard tags.count <= 64 else { throw Malformed() }
            skipSpace()
            guard i == bytes.count || bytes[i] == 0x2C else { throw Malformed() }
        }
        guard !tags.isEmpty else { throw Malformed() }
        return .tags(tags)
    }

    /// `If-Match`: strong comparison.
    static func matchesStrongly(_ condition: Condition, _ current: EntityTag) -> Bool {
        switch condition {
        case .any: return true
        case .tags(let tags): return tags.contains { !$0.weak && !current.weak && $0.opaque == current.opaque }
        }
    }

    /// `If-None-Match`: weak comparison.
    static func matchesWeakly(_ condition: Condition, _ current: EntityTag) -> Bool {
        switch condition {
        case .any: return true
        case .tags(let tags): return tags.contains { $0.opaque == current.opaque }
        }
    }

    /// The versions of document `id` an `If-Match` names (strong tags only): what a guarded
    /// write compares in the database, so the check and the write are one statement. Empty for
    /// `*` and for tags of other documents.
    static func expectedVersion(_ condition: Condition, id: Int64) -> [Int64] {
        guard case .tags(let tags) = condition else { return [] }
        let prefix = "\(id)-"
        return tags.compactMap { tag in
            guard !tag.weak, tag.opaque.hasPrefix(prefix) else { return nil }
            return Int64(tag.opaque.dropFirst(prefix.count))
        }
    }
}
