import Foundation
import Net

/// A request to send, with `{{…}}` placeholders filled per request:
/// `{{seq}}` (1, 2, 3… per worker), `{{int:LOW:HIGH}}`, `{{choice:a|b|c}}`,
/// `{{fvecs:FILE}}` (a random row of an .fvecs file as a JSON array), `{{line:FILE}}` (a
/// random line of a text file). A request without placeholders is rendered once.
public struct RequestTemplate: Sendable {
    public var method: String
    public var weight: Int
    /// What the per-request breakdown calls it: the scenario's `name`, else "METHOD path".
    /// Templates with the same name are counted together.
    public var name: String
    let pathParts: [Part]
    let headerParts: [(String, [Part])]
    let bodyParts: [Part]?
    /// Filled in once when nothing varies.
    let fixed: [UInt8]?

    enum Part: Sendable {
        case text(String)
        case sequence
        case integer(Int, Int)
        case choice([String])
        case vectorRow(VectorRows)
        case fileLine(FileLines)
    }

    public init(method: String, path: String, headers: [(String, String)], body: String?, weight: Int,
                authority: String, baseDirectory: String, name: String? = nil) throws(LoadTestError) {
        let method = method.uppercased()
        self.name = name ?? "\(method) \(path)"
        let pathParts = try RequestTemplate.parse(path, baseDirectory)
        var headerParts: [(String, [Part])] = []
        for (name, value) in headers {
            guard !name.isEmpty, !name.contains(":"), !name.contains("\r"), !name.contains("\n") else {
                throw .invalid("bad header name '\(name)'")
            }
            headerParts.append((name, try RequestTemplate.parse(value, baseDirectory)))
        }
        if !headers.contains(where: { $0.0.lowercased() == "host" }) {
            headerParts.insert(("Host", [.text(authority)]), at: 0)
        }
        let bodyParts = try body.map { b throws(LoadTestError) in try RequestTemplate.parse(b, baseDirectory) }
        let varies = (pathParts + headerParts.flatMap(\.1) + (bodyParts ?? [])).contains {
            if case .text = $0 { return false }
            return true
        }
        self.method = method
        self.weight = weight
        self.pathParts = pathParts
        self.headerParts = headerParts
        self.bodyParts = bodyParts
        if varies {
            fixed = nil
        } else {
            var random = SplitMix64(seed: 1)
            fixed = RequestTemplate.build(method, pathParts, headerParts, bodyParts, &random, 0)
        }
    }

    /// The request's bytes on the wire.
    public func render(_ random: inout SplitMix64, _ sequence: inout Int) -> [UInt8] {
        if let fixed { return fixed }
        sequence += 1
        return RequestTemplate.build(method, pathParts, headerParts, bodyParts, &random, sequence)
    }

    static func build(_ method: String, _ pathParts: [Part], _ headerParts: [(String, [Part])], _ bodyParts: [Part]?,
                      _ random: inout SplitMix64, _ sequence: Int) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(256)
        out.append(contentsOf: method.utf8)
        out.append(0x20)
        fill(pathParts, &out, &random, sequence)
        out.append(contentsOf: " HTTP/1.1\r\n".utf8)
        for (name, parts) in headerParts {
            out.append(contentsOf: name.utf8)
            out.append(contentsOf: ": ".utf8)
            fill(parts, &out, &random, sequence)
            out.append(contentsOf: "\r\n".utf8)
        }
        if let bodyParts {
            var body = [UInt8]()
            fill(bodyParts, &body, &random, sequence)
            out.append(contentsOf: "Content-Length: \(body.count)\r\n\r\n".utf8)
            out.append(contentsOf: body)
        } else {
            out.append(contentsOf: "\r\n".utf8)
        }
        return out
    }

    static func fill(_ parts: [Part], _ out: inout [UInt8], _ random: inout SplitMix64, _ sequence: Int) {
        for part in parts {
            switch part {
            case .text(let s): out.append(contentsOf: s.utf8)
            case .sequence: out.append(contentsOf: String(sequence).utf8)
            case .integer(let low, let high):
                out.append(contentsOf: String(low + Int(random.next() % UInt64(high - low + 1))).utf8)
            case .choice(let options): out.append(contentsOf: options[Int(random.next() % UInt64(options.count))].utf8)
            case .vectorRow(let rows): rows.appendRandomRow(&out, &random)
            case .fileLine(let lines): out.append(contentsOf: lines.lines[Int(random.next() % UInt64(lines.lines.count))])
            }
        }
    }

    static func parse(_ text: String, _ baseDirectory: String) throws(LoadTestError) -> [Part] {
        var parts: [Part] = []
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            if open.lowerBound > rest.startIndex { parts.append(.text(String(rest[..<open.lowerBound]))) }
            guard let close = rest[open.upperBound...].range(of: "}}") else { throw .invalid("unclosed {{ in '\(text)'") }
            let spec = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            parts.append(try placeholder(spec, baseDirectory))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { parts.append(.text(String(rest))) }
        return parts
    }

    static func placeholder(_ spec: String, _ baseDirectory: String) throws(LoadTestError) -> Part {
        let fields = spec.split(separator: ":", maxSplits: 1).map(String.init)
        func path(_ p: String) -> String { p.hasPrefix("/") ? p : baseDirectory + "/" + p }
        switch fields[0] {
        case "seq" where fields.count == 1: return .sequence
        case "int":
            let bounds = fields.count == 2 ? fields[1].split(separator: ":").compactMap { Int($0) } : []
            guard bounds.count == 2, bounds[0] <= bounds[1] else { throw .invalid("{{int:LOW:HIGH}} needs two integers, LOW ≤ HIGH: '\(spec)'") }
            return .integer(bounds[0], bounds[1])
        case "choice":
            let options = fields.count == 2 ? fields[1].split(separator: "|", omittingEmptySubsequences: false).map(String.init) : []
            guard !options.isEmpty else { throw .invalid("{{choice:a|b}} needs options: '\(spec)'") }
            return .choice(options)
        case "fvecs":
            guard fields.count == 2 else { throw .invalid("{{fvecs:FILE}} needs a file") }
            return .vectorRow(try VectorRows(path: path(fields[1])))
        case "line":
            guard fields.count == 2 else { throw .invalid("{{line:FILE}} needs a file") }
            return .fileLine(try FileLines(path: path(fields[1])))
        default:
            throw .invalid("unknown placeholder {{\(spec)}}: use seq, int:LOW:HIGH, choice:a|b, fvecs:FILE or line:FILE")
        }
    }
}

/// The rows of an .fvecs file (texmex format: a little-endian int32 dimension, then that many
/// float32s, per row), rendered as JSON arrays.
final class VectorRows: Sendable {
    let rows: [[UInt8]]

    init(path: String) throws(LoadTestError) {
        guard let data = FileManager.default.contents(atPath: path) else { throw .invalid("cannot read \(path)") }
        var rows: [[UInt8]] = []
        var offset = 0
        let bytes = [UInt8](data)
        while offset + 4 <= bytes.count && rows.count < 100_000 {
            let dimension = Int(UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24)
            guard dimension > 0, dimension <= 65536, offset + 4 + dimension * 4 <= bytes.count else {
                throw .invalid("\(path) is not an .fvecs file (row \(rows.count))")
            }
            var json = "["
            for k in 0..<dimension {
                let at = offset + 4 + k * 4
                let bits = UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
                if k > 0 { json += "," }
                json += "\(Float(bitPattern: bits))"
            }
            json += "]"
            rows.append(Array(json.utf8))
            offset += 4 + dimension * 4
        }
        guard !rows.isEmpty else { throw .invalid("\(path) holds no vectors") }
        self.rows = rows
    }

    func appendRandomRow(_ out: inout [UInt8], _ random: inout SplitMix64) {
        out.append(contentsOf: rows[Int(random.next() % UInt64(rows.count))])
    }
}

/// The non-empty lines of a text file.
final class FileLines: Sendable {
    let lines: [[UInt8]]

    init(path: String) throws(LoadTestError) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw .invalid("cannot read \(path)") }
        lines = text.split(whereSeparator: \.isNewline).map { Array($0.utf8) }
        guard !lines.isEmpty else { throw .invalid("\(path) has no lines") }
    }
}
