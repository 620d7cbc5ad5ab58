import CSQLite

/// One `sqlite3*` handle with its prepared-statement cache. Not thread-safe: it is used by one
/// thread at a time (the writer thread, or the pool thread that checked it out).
final class SQLiteConnection {
    let handle: OpaquePointer
    private var statements: [String: OpaquePointer] = [:]

    init(path: String, readOnly: Bool, synchronousFull: Bool, busyTimeoutMilliseconds: Int32) throws(StoreError) {
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE))
            | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(db)
            throw .unavailable("cannot open \(path): \(message)")
        }
        handle = db
        sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
        sqlite3_extended_result_codes(db, 1)
        if !readOnly {
            try execute("PRAGMA journal_mode=WAL")
            try execute("PRAGMA foreign_keys=ON")
        }
        try execute("PRAGMA synchronous=\(synchronousFull ? "FULL" : "NORMAL")")
    }

    /// Borrows a handle opened elsewhere (a backup file); the caller closes it.
    init(wrapping handle: OpaquePointer) throws(StoreError) {
        self.handle = handle
        borrowed = true
    }

    private var borrowed = false

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        if !borrowed { sqlite3_close_v2(handle) }
    }

    /// Runs SQL text without parameters (pragmas, transaction control, migration scripts).
    func execute(_ sql: String) throws(StoreError) {
        var error: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &error)
        if rc != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(error)
            throw SQLiteConnection.map(rc, message)
        }
    }

    /// Rows of a query without parameters.
    func rows(_ sql: String) throws(StoreError) -> [[SQLValue]] {
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw SQLiteConnection.map(rc, lastError) }
        defer { sqlite3_finalize(statement) }
        return try step(statement).rows
    }

    var lastError: String { String(cString: sqlite3_errmsg(handle)) }

    func run(_ statement: Statement) throws(StoreError) -> SQLResult {
        let prepared = try prepare(statement.query)
        defer {
            sqlite3_reset(prepared)
            sqlite3_clear_bindings(prepared)
        }
        for (i, value) in statement.values.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(prepared, index)
            case .integer(let v): rc = sqlite3_bind_int64(prepared, index, v)
            case .real(let v): rc = sqlite3_bind_double(prepared, index, v)
            case .text(let s), .json(let s):
                var s = s
                s.withUTF8 { buffer in
                    // An empty string must still bind as text, not NULL: any non-NULL pointer will do.
                    let base = buffer.baseAddress.map { UnsafeRawPointer($0) } ?? UnsafeRawPointer(bitPattern: 1)!
                    csqlite_bind_text_transient(prepared, index, base.assumingMemoryBound(to: CChar.self), Int32(buffer.count))
                }
                rc = SQLITE_OK
            case .blob(let bytes):
                bytes.withUnsafeBytes { buffer in
                    // A zero-length blob must still bind as a blob, not NULL.
                    csqlite_bind_blob_transient(prepared, index, buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(buffer.count))
                }
                rc = SQLITE_OK
            case .textArray, .optionalTextArray, .blobArray, .jsonArray:
                throw .internalError("\(statement.query.name): array parameters are PostgreSQL-only")
            }
            guard rc == SQLITE_OK else { throw SQLiteConnection.map(rc, lastError) }
        }
        return try step(prepared)
    }

    private func step(_ prepared: OpaquePointer) throws(StoreError) -> SQLResult {
        var result = SQLResult()
        while true {
            let rc = sqlite3_step(prepared)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw SQLiteConnection.map(rc, lastError) }
            let columns = sqlite3_column_count(prepared)
            var row: [SQLValue] = []
            row.reserveCapacity(Int(columns))
            for c in 0..<columns {
                switch sqlite3_column_type(prepared, c) {
                case SQLITE_INTEGER: row.append(.integer(sqlite3_column_int64(prepared, c)))
                case SQLITE_FLOAT: row.append(.real(sqlite3_column_double(prepared, c)))
                case SQLITE_TEXT:
                    let count = Int(sqlite3_column_bytes(prepared, c))
                    let text = sqlite3_column_text(prepared, c)!
                    row.append(.text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)))
                case SQLITE_BLOB:
                    let count = Int(sqlite3_column_bytes(prepared, c))
                    if count == 0 {
                        row.append(.blob([]))
                    } else {
                        let bytes = sqlite3_column_blob(prepared, c)!.assumingMemoryBound(to: UInt8.self)
                        row.append(.blob(Array(UnsafeBufferPointer(start: bytes, count: count))))
                    }
                default: row.append(.null)
                }
            }
            result.rows.append(row)
        }
        result.affected = Int(sqlite3_changes(handle))
        return result
    }

    private func prepare(_ query: Query) throws(StoreError) -> OpaquePointer {
        if let cached = statements[query.name] { return cached }
        // `$n` would be numbered by first appearance in SQLite; `?n` binds to exactly n.
        let sql = String(query.sqlite.map { $0 == "$" ? "?" : $0 })
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else {
            throw .internalError("\(query.name): \(lastError)")
        }
        statements[query.name] = statement
        return statement
    }

    static func map(_ rc: Int32, _ message: String) -> StoreError {
        switch rc & 0xFF {
        case SQLITE_CONSTRAINT:
            // Extended codes are composite macros that do not import: SQLITE_CONSTRAINT | (n << 8).
            if rc == SQLITE_CONSTRAINT | (8 << 8) || rc == SQLITE_CONSTRAINT | (6 << 8) { return .conflict(message) }  // UNIQUE, PRIMARYKEY
            if rc == SQLITE_CONSTRAINT | (3 << 8) { return .notFound(message) }  // FOREIGNKEY
            return .invalid(message)
        case SQLITE_BUSY, SQLITE_LOCKED: return .timeout(message)
        case SQLITE_CANTOPEN, SQLITE_IOERR, SQLITE_FULL, SQLITE_READONLY, SQLITE_CORRUPT, SQLITE_NOTADB:
            return .unavailable(message)
        case SQLITE_TOOBIG, SQLITE_MISMATCH, SQLITE_RANGE: return .invalid(message)
        default: return .internalError(message)
        }
    }
}
