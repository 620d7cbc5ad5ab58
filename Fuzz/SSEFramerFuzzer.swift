// libFuzzer entry for the AI proxy's SSE framer (Features/AIProxy/Streaming/SSEFramer.swift),
// built by Fuzz/run.sh with -sanitize=fuzzer,address. The first byte of an input chooses how
// the rest is cut into reads; invariants on every input:
//  - the framer never crashes, and an event over its size limit is refused, not buffered;
//  - the events, and their `data`, do not depend on where the reads split the stream (a CR
//    and its LF in two reads included): they equal those of the whole input fed at once;
//  - forwarding is lossless: the events' bytes plus what `finish` returns are the input.
//  - the `data` of each event equals a straightforward WHATWG line-by-line decode of its bytes.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let seed = Int(data[0])
    let input = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let whole = frame(input, cuts: [])
    var cuts: [Int] = []
    var at = 0
    var step = seed % 7 + 1
    while at < input.count {
        at += step
        cuts.append(min(at, input.count))
        step = (step * 5 + seed) % 11 + 1
    }
    let split = frame(input, cuts: cuts)
    check(whole.events.map(\.raw) == split.events.map(\.raw), "event bytes depend on the reads")
    check(whole.events.map(\.data) == split.events.map(\.data), "event data depends on the reads")
    check(whole.events.flatMap(\.raw) + whole.rest == input, "forwarded bytes differ from the input")
    check(split.events.flatMap(\.raw) + split.rest == input, "forwarded bytes differ from the input (split reads)")
    for event in whole.events { check(event.data == reference(event.raw), "data differs from the reference decode") }
    return 0
}

func frame(_ input: [UInt8], cuts: [Int]) -> (events: [SSEFramer.Event], rest: [UInt8]) {
    var framer = SSEFramer(maximumEventBytes: 1 << 20)
    var events: [SSEFramer.Event] = []
    var start = 0
    for end in cuts + [input.count] where end >= start {
        input[start..<end].withUnsafeBytes { bytes in
            do { try framer.feed(bytes) { events.append($0) } } catch { fatalError("refused a small stream: \(error)") }
        }
        start = end
    }
    return (events, framer.finish())
}

/// The event's `data` by WHATWG's rules, decoding its bytes line by line.
func reference(_ raw: [UInt8]) -> [UInt8]? {
    var lines: [[UInt8]] = []
    var current: [UInt8] = []
    var i = 0
    while i < raw.count {
        let b = raw[i]
        if b == 0x0D || b == 0x0A {
            lines.append(current)
            current = []
            if b == 0x0D, i + 1 < raw.count, raw[i + 1] == 0x0A { i += 1 }
        } else {
            current.append(b)
        }
        i += 1
    }
    var data: [UInt8]?
    for line in lines where !line.isEmpty && line[0] != 0x3A {
        let colon = line.firstIndex(of: 0x3A) ?? line.count
        var value = colon < line.count ? Array(line[(colon + 1)...]) : []
        if value.first == 0x20 { value.removeFirst() }
        guard Array(line[..<colon]) == Array("data".utf8) else { continue }
        if data == nil { data = value } else { data! += [0x0A] + value }
    }
    return data
}

func check(_ condition: Bool, _ message: String) {
    if !condition { fatalError(message) }
}
