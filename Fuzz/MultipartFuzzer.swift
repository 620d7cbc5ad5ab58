// libFuzzer entry for the file uploads' multipart/form-data parser
// (Features/Files/MultipartFormParser.swift), built by Fuzz/run.sh with -sanitize=fuzzer,address.
//
// The first byte picks where the input is cut (as TCP might), the boundary is "b". Invariants on
// every input:
//  - the parser never crashes or reads out of bounds (ASan);
//  - fed whole or in pieces it reports the same parts, the same data and the same verdict;
//  - data comes only inside a part, parts never exceed the limit, and no data contains the
//    delimiter CRLF "--b" followed by what ends a boundary line.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let step = Int(data[0] % 23) + 1
    let input = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let whole = run(input, step: nil)
    let split = run(input, step: step)
    if whole != split { fatalError("whole and split parses disagree: \(whole) vs \(split)") }
    return 0
}

struct Outcome: Equatable {
    var events: [String] = []
    var failed = false
}

func run(_ input: [UInt8], step: Int?) -> Outcome {
    var parser = MultipartFormParser(boundary: "b", maximumParts: 8, maximumHeaderBytes: 256)
    var outcome = Outcome()
    var data: [UInt8] = []
    var inPart = false
    var offset = 0
    do throws(MultipartFormParser.Failure) {
        while offset < input.count {
            let n = min(step ?? input.count, input.count - offset)
            let piece = Array(input[offset..<offset + n])
            offset += n
            var failure: MultipartFormParser.Failure?
            piece.withUnsafeBytes { bytes in
                do throws(MultipartFormParser.Failure) {
                    try parser.feed(bytes) { (event) throws(MultipartFormParser.Failure) in
                        switch event {
                        case .partBegan(let head):
                            check(!inPart, "a part began inside a part")
                            inPart = true
                            outcome.events.append("begin \(head.name ?? "-") \(head.filename ?? "-") \(head.contentType ?? "-")")
                        case .data(let d):
                            check(inPart, "data outside a part")
                            data.append(contentsOf: d)
                        case .partEnded:
                            check(inPart, "a part ended twice")
                            inPart = false
                            outcome.events.append("data \(data)")
                            data = []
                        }
                    }
                } catch { failure = error }
            }
            if let failure { throw failure }
        }
        try parser.finish()
        check(parser.parts <= 8, "more parts than the limit")
    } catch {
        outcome.failed = true
    }
    return outcome
}

/// `precondition` drops its message in -O builds; a fuzz failure must say what broke.
func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
