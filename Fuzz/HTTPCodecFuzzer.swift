// libFuzzer entry for the HTTP/1.1 request codec (Net/HTTP/HTTPRequestParser.swift and the
// framing validator), built by Fuzz/run.sh with -sanitize=fuzzer,address.
//
// Each input is split into chunks at positions taken from its first byte, so the fuzzer also
// explores how TCP might cut the same bytes. Invariants checked on every input:
//  - the codec never crashes or reads out of bounds (ASan);
//  - it never reports consuming more bytes than it was given;
//  - every accepted request has a path starting with "/" or "*" (after absolute-form), a
//    body no larger than the limit, and header values free of CR, LF and NUL;
//  - a body that streams (paths under /s, as a file upload's route) reaches its sink whole,
//    in order, within its limit, whether the sink pauses or not, and is never buffered;
//  - feeding the same bytes whole or chunked gives the same requests and the same verdict
//    (accepted, or rejected at the same request; a request with two faults, say too large
//    and malformed, may be answered with either fault's status).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let step = Int(data[0] % 17) + 1
    let input = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let whole = run(input, chunk: nil)
    let chunked = run(input, chunk: step)
    if whole.requests != chunked.requests || (whole.error == 0) != (chunked.error == 0) {
        fatalError("whole and chunked parses disagree: \(whole) vs \(chunked)")
    }
    return 0
}

struct Summary: Equatable, CustomStringConvertible {
    var requests: [String] = []
    var error: Int = 0
    var description: String { "\(requests) error=\(error)" }
}

func run(_ input: [UInt8], chunk: Int?) -> Summary {
    var limits = HTTPServerLimits()
    limits.maxHeadBytes = 2048
    limits.maxBodyBytes = 4096
    let parser = HTTPRequestParser(limits: limits)
    parser.streamedBodyLimit = { $0.rawPath.hasPrefix("/s") ? 6000 : nil }
    let sink = CountingSink()
    var summary = Summary()
    var offset = 0
    var pending: [UInt8] = []
    while offset < input.count || !pending.isEmpty {
        if pending.isEmpty {
            let n = min(chunk ?? input.count, input.count - offset)
            pending = Array(input[offset..<offset + n])
            offset += n
        }
        let given = pending.count
        let result = pending.withUnsafeBytes { parser.parse($0.baseAddress!, count: $0.count) }
        switch result {
        case .needMoreData:
            pending = []
        case .head(let consumed):
            // 0 when this piece starts with the head's last LF (the pause leaves it unconsumed).
            check(consumed <= given, "consumed \(consumed) of \(given)")
            pending.removeFirst(consumed)
            check(parser.streamsBody, "a head result for a buffered body")
            sink.bytes = 0
            parser.bodySink = sink
        case .bodyPaused(let consumed):
            check(consumed <= given, "consumed \(consumed) of \(given)")
            pending.removeFirst(consumed)
        case .request(let consumed):
            check(consumed > 0 && consumed <= given, "consumed \(consumed) of \(given)")
            pending.removeFirst(consumed)
            let r = HTTPRequest(codec: parser)
            if parser.streamsBody {
                check(r.bodyCount == 0 && sink.bytes <= 6000, "streamed body buffered or over its limit")
                summary.requests.append("streamed \(r.method) \(r.target) \(sink.bytes) \(sink.digest)")
                sink.digest = 0
                continue
            }
            let path = r.rawPath
            check(path.hasPrefix("/") || path == "*" || path.isEmpty, "path \(path)")
            check(r.bodyCount <= limits.maxBodyBytes, "body of \(r.bodyCount) bytes over the limit")
            for (_, value) in r.headers {
                check(!value.utf8.contains(13) && !value.utf8.contains(10) && !value.utf8.contains(0), "header value \(Array(value.utf8))")
            }
            summary.requests.append("\(r.method) \(r.target) \(r.headerCount) \(r.bodyCount)")
        case .error(let e):
            summary.error = e.status.rawValue
            return summary
        }
    }
    return summary
}

/// A body sink that pauses after every second piece and folds the bytes into a digest, so
/// whole and chunked runs must deliver the same bytes in the same order.
final class CountingSink: HTTPBodySink {
    var bytes = 0
    var digest: UInt64 = 0
    var calls = 0
    func bodyBytes(_ b: UnsafeRawBufferPointer) -> Bool {
        bytes += b.count
        for c in b { digest = (digest &* 31) &+ UInt64(c) }
        calls += 1
        return calls % 2 == 0
    }
    func bodyEnded() {}
    func bodyFailed(_ error: HTTPParseError?) {}
}

/// `precondition` drops its message in -O builds; a fuzz failure must say what broke.
func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
