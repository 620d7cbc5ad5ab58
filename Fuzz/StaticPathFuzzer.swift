// libFuzzer entry for the static folder's path rules (Features/StaticAssets/StaticPath.swift)
// and its Range parser (ByteRange.swift), built by Fuzz/run.sh with -sanitize=fuzzer,address.
// Invariants on every input:
//  - neither crashes;
//  - an accepted path is relative, and none of its segments is empty, `.`, `..`, a dot-file,
//    or holds NUL, `\` or a control character: no input names a file outside the folder;
//  - a partial range lies inside the representation, for every size tried.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let (path, _) = StaticPath.relative(rawPath: bytes) {
        check(!path.hasPrefix("/"), "absolute: \(path)")
        if !path.isEmpty {
            for segment in path.split(separator: "/", omittingEmptySubsequences: false) {
                check(!segment.isEmpty && segment != "." && segment != ".." && !segment.hasPrefix("."), "segment \(segment) in \(path)")
                for s in segment.unicodeScalars { check(s.value >= 0x20 && s.value != 0x7F && s != "\\", "control in \(path)") }
            }
        }
    }
    let header = String(decoding: bytes, as: UTF8.self)
    for total in [0, 1, 10, 1 << 20, Int.max / 2] {
        if case .partial(let r) = ByteRange.answer(header, size: total) {
            check(r.lowerBound >= 0 && r.upperBound < total, "range \(r) of \(total) for \(header)")
        }
    }
    return 0
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
