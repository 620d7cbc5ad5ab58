// libFuzzer entry for the documents' precondition headers (Features/Documents/EntityTag.swift)
// and read-your-writes token (X-AIWriter-Read-After, Storage's WALPosition), built by
// Fuzz/run.sh with -sanitize=fuzzer,address.
// Invariants on every input:
//  - a token that parses prints back to a token that parses to the same position;
//  - parsing never crashes; a parsed list is never empty and holds at most 64 tags;
//  - a parsed list printed back (tags joined with ", ") parses to the same list;
//  - `*` is the only spelling of "any": nothing else the parser accepts matches every tag.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let position = WALPosition(text) {
        check(WALPosition(position.description) == position, "token round trip of \(text)")
    }
    if let condition = try? EntityTag.parse(text) {
        switch condition {
        case .any:
            check(text.trimmingSpaces == "*", "accepted \(text) as *")
        case .tags(let tags):
            check(!tags.isEmpty && tags.count <= 64, "bad tag count")
            let printed = tags.map(\.header).joined(separator: ", ")
            check((try? EntityTag.parse(printed)) == condition, "round trip of \(printed)")
            let stranger = EntityTag(opaque: "\u{1}never")
            check(!EntityTag.matchesStrongly(condition, stranger), "a list matched a tag it does not name")
        }
    }
    return 0
}

extension String {
    var trimmingSpaces: Substring {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return s
    }
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
