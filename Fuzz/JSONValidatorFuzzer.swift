// libFuzzer entry for Storage's JSONObjectValidator (metadata checks before a database sees
// them), built by Fuzz/run.sh with -sanitize=fuzzer,address. Invariants on every input that is
// valid UTF-8 (what a Swift String can hold):
//  - the validator never crashes, loops or reads out of bounds;
//  - whatever it accepts, Foundation's JSONSerialization parses as a dictionary (accepting
//    nothing that is not a JSON object);
//  - whatever JSONSerialization parses as a dictionary without \u0000, lone surrogates or deep
//    nesting, the validator accepts too (refusing no plain object) — except where Foundation is
//    more lenient than RFC 8259 and PostgreSQL (trailing commas), which the validator must refuse,
//    and except inputs holding a NUL byte: Foundation takes those for UTF-16 or UTF-32 (it
//    detects the encoding from where the NULs fall, so `00 00 00 7b 00 00 00 7d` is `{}` to it),
//    while the validator reads UTF-8 text, in which a raw NUL is never valid JSON.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let text = String(validating: bytes, as: UTF8.self) else { return 0 }
    let verdict = JSONObjectValidator.problem(in: text)
    let parsed = try? JSONSerialization.jsonObject(with: Data(bytes), options: [])
    if verdict == nil {
        guard parsed is [String: Any] else { fatalError("accepted, but not a JSON object for Foundation: \(text.debugDescription)") }
    } else if parsed is [String: Any], !bytes.contains(0), !text.contains("\\u0000"), !text.lowercased().contains("\\ud"),
              !foundationLeniency(text),
              text.filter({ $0 == "{" || $0 == "[" }).count < JSONObjectValidator.maximumDepth,
              !text.contains(where: { $0.isNewline && $0 != "\n" && $0 != "\r\n" && $0 != "\r" }) {
        fatalError("refused a plain object: \(verdict!) in \(text.debugDescription)")
    }
    return 0
}

/// Inputs Foundation accepts but RFC 8259 (and jsonb) does not.
func foundationLeniency(_ text: String) -> Bool {
    let compact = text.filter { !$0.isWhitespace }
    return compact.contains(",}") || compact.contains(",]")
}
