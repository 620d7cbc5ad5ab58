/// The one byte range a `Range: bytes=…` header asks of a representation of `size` bytes
/// (RFC 9110 §14.1–14.2), as static assets and file downloads answer it.
///
/// A server may ignore a Range it does not like, so anything but a single well-formed range is
/// answered whole (200) — several ranges, another unit, garbage, numbers too long for a 64-bit
/// offset: never a crash, never a multipart body. A well-formed range past the end is 416.
/// A pure parser: fuzzed with the path rules (`Fuzz/run.sh staticpath`).
enum ByteRange {
    enum Answer: Equatable {
        case whole
        case partial(ClosedRange<Int>)
        case unsatisfiable
    }

    static func answer(_ header: String?, size: Int) -> Answer {
        guard let header else { return .whole }
        let bytes = Array(header.utf8)
        let unit = Array("bytes=".utf8)
        guard bytes.count > unit.count, bytes.count <= 256, bytes.prefix(unit.count).elementsEqual(unit),
              !bytes.contains(0x2C) else { return .whole }
        let spec = bytes[unit.count...]
        guard let dash = spec.firstIndex(of: 0x2D) else { return .whole }
        let first = number(spec[spec.startIndex..<dash])
        let last = number(spec[(dash + 1)...])
        let firstEmpty = dash == spec.startIndex
        let lastEmpty = dash + 1 == spec.endIndex
        if firstEmpty {
            // "-n": the last n bytes.
            guard !lastEmpty, let n = last else { return .whole }
            guard n > 0, size > 0 else { return .unsatisfiable }
            return .partial(max(0, size - n)...(size - 1))
        }
        guard let start = first else { return .whole }
        if !lastEmpty {
            guard let end = last, end >= start else { return .whole }
            guard start < size else { return .unsatisfiable }
            return .partial(start...min(end, size - 1))
        }
        guard start < size else { return .unsatisfiable }
        return .partial(start...(size - 1))
    }

    /// Digits only, at most 18 of them (so the value fits with room to spare).
    static func number(_ digits: ArraySlice<UInt8>) -> Int? {
        guard !digits.isEmpty, digits.count <= 18 else { return nil }
        var n = 0
        for d in digits {
            guard d >= 0x30, d <= 0x39 else { return nil }
            n = n * 10 + Int(d - 0x30)
        }
        return n
    }
}
