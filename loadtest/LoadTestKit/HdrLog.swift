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
