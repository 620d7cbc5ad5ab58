/// PostgreSQL's binary wire format for the types the schema uses: parameters are sent and
/// results read in binary, so vectors travel as raw bytes (no hex) and integers need no parsing.
enum PostgresBinary {
    static let int8: UInt32 = 20, int4: UInt32 = 23, int2: UInt32 = 21, text: UInt32 = 25
    static let varchar: UInt32 = 1043, name: UInt32 = 19, bpchar: UInt32 = 1042, char: UInt32 = 18
    static let float8: UInt32 = 701, float4: UInt32 = 700, bytea: UInt32 = 17, bool: UInt32 = 16
    static let jsonb: UInt32 = 3802, json: UInt32 = 114, oidType: UInt32 = 26, numeric: UInt32 = 1700
    static let textArray: UInt32 = 1009, byteaArray: UInt32 = 1001, jsonbArray: UInt32 = 3807

    /// The type a parameter is declared with when its statement is prepared (0: inferred).
    static func oid(of value: SQLValue) -> UInt32 {
        switch value {
        case .null: return 0
        case .integer: return int8
        case .real: return float8
        case .text: return text
        case .blob: return bytea
        case .json: return jsonb
        case .textArray, .optionalTextArray: return textArray
        case .blobArray: return byteaArray
        case .jsonArray: return jsonbArray
        }
    }

    /// Appends `value`'s binary form to `out`; returns false for NULL (no bytes).
    static func encode(_ value: SQLValue, into out: inout [UInt8]) -> Bool {
        switch value {
        case .null: return false
        case .integer(let v): appendBE(UInt64(bitPattern: v), &out)
        case .real(let v): appendBE(v.bitPattern, &out)
        case .text(let s): out.append(contentsOf: s.utf8)
        case .blob(let b): out.append(contentsOf: b)
        case .json(let s):
            out.append(1)
            out.append(contentsOf: s.utf8)
        case .textArray(let items): encodeArray(items.count, elementType: text, &out) { i, out in out.append(contentsOf: items[i].utf8); return true }
        case .optionalTextArray(let items):
            encodeArray(items.count, elementType: text, hasNull: items.contains(nil), &out) { i, out in
                guard let item = items[i] else { return false }
                out.append(contentsOf: item.utf8)
                return true
            }
        case .blobArray(let items): encodeArray(items.count, elementType: bytea, &out) { i, out in out.append(contentsOf: items[i]); return true }
        case .jsonArray(let items):
            encodeArray(items.count, elementType: jsonb, &out) { i, out in
                out.append(1)
                out.append(contentsOf: items[i].utf8)
                return true
            }
        }
        return true
    }

    /// One-dimensional array: ndim, has-null flag, element type, size, lower bound, then each
    /// element as length + bytes (length -1 for NULL, when `element` returns false).
    private static func encodeArray(_ count: Int, elementType: UInt32, hasNull: Bool = false, _ out: inout [UInt8],
                                    element: (Int, inout [UInt8]) -> Bool) {
        appendBE32(count == 0 ? 0 : 1, &out)
        appendBE32(hasNull ? 1 : 0, &out)
        appendBE32(elementType, &out)
        guard count > 0 else { return }
        appendBE32(UInt32(count), &out)
        appendBE32(1, &out)
        for i in 0..<count {
            let lengthAt = out.count
            appendBE32(0, &out)
            let length = element(i, &out) ? UInt32(out.count - lengthAt - 4) : UInt32.max
            out[lengthAt] = UInt8(length >> 24)
            out[lengthAt + 1] = UInt8(truncatingIfNeeded: length >> 16)
            out[lengthAt + 2] = UInt8(truncatingIfNeeded: length >> 8)
            out[lengthAt + 3] = UInt8(truncatingIfNeeded: length)
        }
    }

    @inline(__always) static func appendBE(_ v: UInt64, _ out: inout [UInt8]) {
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
    }

    @inline(__always) static func appendBE32(_ v: UInt32, _ out: inout [UInt8]) {
        out.append(UInt8(v >> 24)); out.append(UInt8(truncatingIfNeeded: v >> 16))
        out.append(UInt8(truncatingIfNeeded: v >> 8)); out.append(UInt8(truncatingIfNeeded: v))
    }

    /// Reads one binary column of type `oid`.
    static func decode(_ oid: UInt32, _ bytes: UnsafeRawBufferPointer) -> SQLValue {
        switch oid {
        case int8 where bytes.count == 8: return .integer(Int64(bitPattern: readBE(bytes, 8)))
        case int4 where bytes.count == 4: return .integer(Int64(Int32(bitPattern: UInt32(readBE(bytes, 4)))))
        case int2 where bytes.count == 2: return .integer(Int64(Int16(bitPattern: UInt16(readBE(bytes, 2)))))
        case oidType where bytes.count == 4: return .integer(Int64(readBE(bytes, 4)))
        case float8 where bytes.count == 8: return .real(Double(bitPattern: readBE(bytes, 8)))
        case float4 where bytes.count == 4: return .real(Double(Float(bitPattern: UInt32(readBE(bytes, 4)))))
        case bool where bytes.count == 1: return .integer(bytes[0] == 0 ? 0 : 1)
        case bytea: return .blob(Array(bytes))
        case jsonb where bytes.count >= 1: return .json(String(decoding: bytes.dropFirst(), as: UTF8.self))
        case json: return .json(String(decoding: bytes, as: UTF8.self))
        default: return .text(String(decoding: bytes, as: UTF8.self))
        }
    }

    @inline(__always) static func readBE(_ bytes: UnsafeRawBufferPointer, _ count: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<count { v = (v << 8) | UInt64(bytes[i]) }
        return v
    }
}
