import CZlib
import Foundation
import Histogram

/// HdrHistogram's interval log (format 1.3), readable by HdrHistogram's own tools
/// (HistogramLogProcessor, hdrh in Python, …): one line per second of the run, each with that
/// second's histogram in the V2 compressed encoding (ZigZag LEB128 counts with zero runs,
/// zlib, base64). Values are microseconds; the max column is in milliseconds.
public enum HdrLog {
    static let encodingCookie: UInt32 = 0x1c84_9303 | 0x10
    static let compressedCookie: UInt32 = 0x1c84_9304 | 0x10

    public static func write(intervals: [Histogram<UInt64>], startTime: Double, to path: String) throws {
        var text = "#[Histogram log format version 1.3]\n"
        text += "#[StartTime: \(String(format: "%.3f", startTime)) (seconds since epoch)]\n"
        text += "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n"
        for (second, histogram) in intervals.enumerated() where histogram.totalCount > 0 {
            text += String(format: "%.3f,1.000,%.3f,", Double(second), Double(histogram.max) / 1000)
            text += try encode(histogram) + "\n"
        }
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    /// The base64 of the compressed V2 encoding.
    public static func encode(_ histogram: Histogram<UInt64>) throws -> String {
        let counts = try countsArray(histogram)
        var payload: [UInt8] = []
        var index = 0
        while index < counts.count {
            let count = counts[index]
            index += 1
            var zeros = 0
            if count == 0 {
                zeros = 1
                while index < counts.count && counts[index] == 0 { zeros += 1; index += 1 }
            }
            putZigZag(zeros > 1 ? -Int64(zeros) : Int64(count), &payload)
        }
        var plain: [UInt8] = []
        put32(encodingCookie, &plain)
        put32(UInt32(payload.count), &plain)
        put32(0, &plain)  // normalizing index offset
        put32(UInt32(histogram.numberOfSignificantValueDigits.rawValue), &plain)
        put64(histogram.lowestDiscernibleValue, &plain)
        put64(histogram.highestTrackableValue, &plain)
        put64((1.0).bitPattern, &plain)  // integer-to-double conversion ratio
        plain += payload

        var bound = compressBound(uLong(plain.count))
        var compressed = [UInt8](repeating: 0, count: Int(bound))
        let rc = compress2(&compressed, &bound, plain, uLong(plain.count), Z_DEFAULT_COMPRESSION)
        guard rc == Z_OK else { throw LoadTestError.invalid("zlib compress failed (\(rc))") }
        var out: [UInt8] = []
        put32(compressedCookie, &out)
        put32(UInt32(bound), &out)
        out += compressed.prefix(Int(bound))
        return Data(out).base64EncodedString()
    }

    /// Reads a log written by `write` (or by HdrHistogram's own writers, for histograms of
    /// microseconds): each interval's start (s) and histogram.
    public static func read(_ path: String) throws -> [(start: Double, length: Double, histogram: Histogram<UInt64>)] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw LoadTestError.invalid("cannot read \(path)") }
        var intervals: [(Double, Double, Histogram<UInt64>)] = []
        for (number, line) in text.split(whereSeparator: \.isNewline).enumerated() {
            if line.hasPrefix("#") || line.hasPrefix("\"") || line.isEmpty { continue }
            let fields = line.split(separator: ",")
            guard fields.count >= 4, let start = Double(fields[fields.count - 4].split(separator: "=").last ?? ""),
                  let length = Double(fields[fields.count - 3]) else {
                throw LoadTestError.invalid("\(path):\(number + 1): not an interval line")
            }
            intervals.append((start, length, try decode(String(fields[fields.count - 1]), at: "\(path):\(number + 1)")))
        }
        return intervals
    }

    /// One compressed V2 histogram from its base64 text.
    public static func decode(_ base64: String, at location: String = "histogram") throws -> Histogram<UInt64> {
        guard let data = Data(base64Encoded: base64) else { throw LoadTestError.invalid("\(location): not base64") }
        let bytes = [UInt8](data)
        func be32(_ b: [UInt8], _ at: Int) -> UInt32 { b[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) } }
        func be64(_ b: [UInt8], _ at: Int) -> UInt64 { b[at..<at + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        guard bytes.count >= 8, be32(bytes, 0) & 0xFFFF_FF0F == 0x1c84_9304 else { throw LoadTestError.invalid("\(location): not a compressed V2 histogram") }
        let compressedLength = Int(be32(bytes, 4))
        guard bytes.count >= 8 + compressedLength else { throw LoadTestError.invalid("\(location): truncated") }
        var plain = [UInt8](repeating: 0, count: 1 << 24)
        var plainLength = uLong(plain.count)
        guard uncompress(&plain, &plainLength, Array(bytes[8..<8 + compressedLength]), uLong(compressedLength)) == Z_OK,
              plainLength >= 40, be32(plain, 0) & 0xFFFF_FF0F == 0x1c84_9303 else {
            throw LoadTestError.invalid("\(location): corrupt histogram")
        }
        let payloadLength = Int(be32(plain, 4))
        let digits = Int(be32(plain, 12))
        let highest = be64(plain, 24)
        guard (1...5).contains(digits), 40 + payloadLength <= Int(plainLength),
              let precision = SignificantDigits(rawValue: Int8(digits)) else { throw LoadTestError.invalid("\(location): bad header") }
        var histogram = Histogram<UInt64>(highestTrackableValue: max(highest, 2), numberOfSignificantValueDigits: precision)
        // Index → value, as HdrHistogram lays its counts out (unit magnitude 0).
        var magnitude = 0
        while (1 << magnitude) < 2 * Int(pow(10.0, Double(digits))) { magnitude += 1 }
        let halfMagnitude = max(magnitude, 1) - 1
        let halfCount = 1 << halfMagnitude
        var index = 0
        var i = 40
        let end = 40 + payloadLength
        while i < end {
            var raw: UInt64 = 0
            var shift: UInt64 = 0
            for k in 0..<9 {
                guard i < end else { throw LoadTestError.invalid("\(location): truncated counts") }
                let byte = plain[i]
                i += 1
                if k == 8 { raw |= UInt64(byte) << 56; break }
                raw |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { break }
                shift += 7
            }
            let value = Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
            if value < 0 { index += Int(-value); continue }
            if value > 0 {
                var bucket = (index >> halfMagnitude) - 1
                var subBucket = (index & (halfCount - 1)) + halfCount
                if bucket < 0 { subBucket -= halfCount; bucket = 0 }
                _ = histogram.record(UInt64(subBucket) << UInt64(bucket), count: UInt64(value))
            }
            index += 1
        }
        return histogram
    }

    /// The histogram's counts in HdrHistogram's index order, up to the last non-zero one.
    static func countsArray(_ histogram: Histogram<UInt64>) throws -> [UInt64] {
        // hdrhistogram-swift keeps its counts internal; its Codable form carries them in order.
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(histogram)) as? [String: Any]
        guard let raw = object?["counts"] as? [NSNumber] else { throw LoadTestError.invalid("histogram has no counts") }
        var counts = raw.map { $0.uint64Value }
        while counts.last == 0 { counts.removeLast() }
        return counts
    }

    static func putZigZag(_ value: Int64, _ out: inout [UInt8]) {
        var v = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        for _ in 0..<8 {
            if v < 0x80 { out.append(UInt8(v)); return }
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(truncatingIfNeeded: v))  // the ninth byte carries the last 8 bits
    }

    static func put32(_ v: UInt32, _ out: inout [UInt8]) {
        for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
    }

    static func put64(_ v: UInt64, _ out: inout [UInt8]) {
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
    }
}
