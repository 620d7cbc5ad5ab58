import CPostgres

extension StoreError {
    /// Maps a failed result by its SQLSTATE class, never by message text.
    static func postgres(_ result: OpaquePointer) -> StoreError {
        let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? ""
        let message = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
            ?? String(cString: PQresultErrorMessage(result))
        return postgres(state: state, message: message)
    }

    static func postgres(state: String, message: String) -> StoreError {
        switch state {
        case "23505": return .conflict(message)
        case "23503": return .notFound(message)
        case "57014": return .timeout(message)
        case "40001", "40P01": return .conflict(message)
        case "55P03": return .timeout(message)
        default: break
        }
        switch state.prefix(2) {
        case "22", "23": return .invalid(message)
        case "08", "53", "57", "58": return .unavailable(message)
        default: return .internalError(state.isEmpty ? message : "\(state): \(message)")
        }
    }
}
