// libFuzzer entry for what the collections routes parse (Features/Collections): the JSON
// parser's member-by-member face with float arrays read straight into [Float], the base64
// float32 decoder, and the `where` / `where_document` filter language. Built by Fuzz/run.sh
// with -sanitize=fuzzer,address. Invariants on every input:
//  - nothing crashes, loops or reads out of bounds;
//  - member-by-member reading agrees with the whole-value parser: it accepts exactly the
//    objects the parser accepts (member names in order, each value equal), and every float it
//    reads is finite and bit for bit what strtof reads (the fast path rounds correctly);
//  - base64 decoding gives the bytes Foundation's decoder gives, and accepts all canonical
//    base64 of a whole number of float32s;
//  - a filter that parses can be evaluated on any metadata without trapping.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    checkStreaming(bytes)
    checkBase64(bytes)
    checkFilters(bytes)
    return 0
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}

func checkStreaming(_ bytes: [UInt8]) {
    let whole = try? JSONParser.parse(bytes)
    let streamed: [(String, JSONValue)]? = bytes.withUnsafeBytes { raw in
        var parser = JSONParser(raw)
        var members: [(String, JSONValue)] = []
        do {
            try parser.beginObject()
            while let name = try parser.nextMember() {
                if parser.peekArray() {
                    // Try the float path on a copy; fall back to a value if it is not all numbers.
                    var probe = parser
                    var floats: [Float] = []
                    if (try? probe.readFloats(into: &floats)) != nil {
                        let value = try parser.readValue()
                        guard case .array(let items) = value, items.count == floats.count else {
                            fatalError("floats and value disagree on \(name)")
                        }
                        for (item, f) in zip(items, floats) {
                            guard case .number(let text) = item else { fatalError("a float from a non-number") }
                            // Correctly rounded: exactly what the C library's strtof gives.
                            let expected = text.withCString { strtof($0, nil) }
                            check(f.isFinite && f.bitPattern == expected.bitPattern, "float \(f) for \(text), strtof says \(expected)")
                        }
                        members.append((name, value))
                        continue
                    }
                }
                members.append((name, try parser.readValue()))
            }
            try parser.end()
        } catch {
            return nil
        }
        return members
    }
    switch (whole, streamed) {
    case (.object(let object)?, let members?):
        check(object.keys == members.map(\.0), "member names differ")
        for (name, value) in members { check(object[name] == value, "member \(name) differs") }
    case (.object?, nil):
        // The streaming reader refuses what its float path cannot hold (a number beyond float32).
        break
    case (_, let members?):
        // Duplicate names are the caller's to refuse; anything else accepted must parse whole.
        let names = members.map(\.0)
        check(Set(names).count != names.count, "streamed an object the parser refuses")
    default:
        break
    }
}

func checkBase64(_ bytes: [UInt8]) {
    guard let text = String(validating: bytes, as: UTF8.self) else { return }
    switch Base64Floats.decode(text) {
    case .success(let floats):
        let raw = floats.withUnsafeBytes { Data($0) }
        check(Data(base64Encoded: text) == raw, "base64 \(text.debugDescription) decoded unlike Foundation")
    case .failure:
        // Foundation is lenient (padding mid-string); only canonical base64 must be accepted.
        if let data = Data(base64Encoded: text), data.count % 4 == 0, !data.isEmpty, data.base64EncodedString() == text {
            fatalError("refused valid base64 of \(data.count) bytes: \(text.debugDescription)")
        }
    }
}

let samples: [Metadata] = {
    var a = Metadata()
    a.set("n", .int(3)); a.set("s", .string("x")); a.set("b", .bool(true)); a.set("f", .float(2.5))
    var b = Metadata()
    b.set("n", .float(-1e300)); b.set("s", .string(""))
    return [Metadata(), a, b]
}()

func checkFilters(_ bytes: [UInt8]) {
    guard let value = try? JSONParser.parse(bytes) else { return }
    for filter in [try? RecordFilter.metadata(value), try? RecordFilter.document(value)] {
        guard let filter = filter ?? nil else { continue }
        for (i, metadata) in samples.enumerated() {
            _ = filter.matches(id: "r\(i)", metadata, i == 0 ? nil : "a document with x in it")
        }
    }
}
