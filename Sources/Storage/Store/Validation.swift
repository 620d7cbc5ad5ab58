/// Input checks shared by every Store operation: everything is refused before a statement is
/// sent, so a bad field never leaves half a batch behind.
public enum Validation {
    static let maximumIDBytes = 512
    static let maximumNameBytes = 256
    static let maximumTextBytes = 16 << 20
    static let maximumMetadataBytes = 256 << 10
    static let maximumDimension = 4096
    /// The most records one write unit holds; the gateway's configured batch limit is at most this.
    public static let maximumBatch = 100_000

    static func tenantID(_ id: String) throws(StoreError) {
        guard !id.isEmpty, id.utf8.count <= 64,
              id.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D || $0 == 0x5F })
        else { throw .invalid("tenant id must be 1–64 characters of A–Z, a–z, 0–9, '-' and '_'") }
    }

    /// Names and external ids: non-empty, bounded, no control characters (PostgreSQL text
    /// cannot hold NUL, and control characters in ids are never intended).
    static func identifier(_ value: String, _ field: String, maximumBytes: Int = maximumIDBytes) throws(StoreError) {
        let count = value.utf8.count
        guard count > 0 else { throw .invalid("\(field) must not be empty") }
        guard count <= maximumBytes else { throw .invalid("\(field) is \(count) bytes; the limit is \(maximumBytes)") }
        guard !value.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            throw .invalid("\(field) must not contain control characters")
        }
    }

    /// A file's name: what a download's `Content-Disposition` offers and what a user's disk
    /// would take, so one name segment — no `/` or `\\`, no control characters, not `.` or `..`,
    /// 1–255 bytes of UTF-8 (what most file systems allow).
    public static func fileName(_ value: String) throws(StoreError) {
        try identifier(value, "file name", maximumBytes: 255)
        guard !value.utf8.contains(where: { $0 == 0x2F || $0 == 0x5C }) else { throw .invalid("file name must not contain / or \\") }
        guard value != "." && value != ".." else { throw .invalid("file name must not be . or ..") }
    }

    static func text(_ value: String, _ field: String) throws(StoreError) {
        let count = value.utf8.count
        guard count <= maximumTextBytes else { throw .invalid("\(field) is \(count) bytes; the limit is \(maximumTextBytes)") }
        guard !value.utf8.contains(0) else { throw .invalid("\(field) must not contain NUL characters") }
    }

    static func metadata(_ value: String?) throws(StoreError) -> String {
        guard let value else { return "{}" }
        guard value.utf8.count <= maximumMetadataBytes else {
            throw .invalid("metadata is \(value.utf8.count) bytes; the limit is \(maximumMetadataBytes)")
        }
        if let problem = JSONObjectValidator.problem(in: value) { throw .invalid(problem) }
        return value
    }

    static func vector(_ vector: [Float], dimension: Int, id: String) throws(StoreError) {
        guard vector.count == dimension else {
            throw .invalid("record \(quoted(id)): vector has \(vector.count) components; the collection's dimension is \(dimension)")
        }
        for (i, x) in vector.enumerated() where !x.isFinite {
            throw .invalid("record \(quoted(id)): component \(i) is \(x); components must be finite")
        }
    }

    /// An id for messages: long or odd ids are cut, so an error never echoes a megabyte.
    static func quoted(_ id: String) -> String {
        let prefix = id.unicodeScalars.prefix(64).map { $0.value < 0x20 ? "?" : String(Character($0)) }.joined()
        return "\"" + prefix + (id.unicodeScalars.count > 64 ? "…" : "") + "\""
    }
}

extension Array where Element == Float {
    /// Little-endian float32 bytes (the column format on both backends).
    var storageBytes: [UInt8] {
        withUnsafeBytes { [UInt8]($0) }
    }

    init?(storageBytes bytes: [UInt8]) {
        guard bytes.count % 4 == 0 else { return nil }
        self = [Float](unsafeUninitializedCapacity: bytes.count / 4) { buffer, count in
            bytes.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: source)
            }
            count = bytes.count / 4
        }
    }
}
