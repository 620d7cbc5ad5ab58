/// Cuts an upstream's Server-Sent Events stream into whole events, keeping each event's bytes
/// exactly as they came.
///
/// Why it exists: the proxy passes a stream through untouched, but must see it event by event
/// — to find the final `choices: []` usage chunk it asked for (and drop it when the client did
/// not ask), to read the usage it charges the budget with, and to know whether the upstream
/// ended with `[DONE]` or was cut. Network reads split events anywhere (inside a line, between
/// a CR and its LF), so bytes are kept until the blank line that ends their event.
///
/// The grammar is WHATWG's (the one openai-python's `_SSELineDecoder` implements): lines end in
/// CR, LF or CRLF; `field:value` with one leading space dropped from the value; `data` lines
/// joined with "\n"; lines starting with ":" are comments; a blank line ends the event. A pure
/// state machine: no I/O, fuzzed (`Fuzz/run.sh sse`) against a reference that splits the whole
/// input at once.
struct SSEFramer {
    /// One event: its bytes as received (terminating blank line included) and its `data`.
    struct Event {
        var raw: [UInt8]
        /// The `data` lines joined with "\n" (nil when the event had no `data` field).
        var data: [UInt8]?
        /// The `event` field's value, if any.
        var name: [UInt8]?
    }

    enum Failure: Error, Equatable { case eventTooLarge(Int) }

    /// Bytes one event may hold before the stream is refused (the client's decoder has no limit;
    /// the proxy's memory has).
    let maximumEventBytes: Int
    /// Bytes of the event in progress.
    private(set) var pending: [UInt8] = []
    private var lineStart = 0
    private var skipLF = false
    private var data: [UInt8]?
    private var name: [UInt8]?

    init(maximumEventBytes: Int = 16 << 20) {
        self.maximumEventBytes = maximumEventBytes
    }

    /// Consumes `bytes`, calling `emit` for every event they complete. An event goes out at
    /// the terminator of its blank line; when that is a CR whose LF comes next, the LF leads
    /// the next event's bytes, so what is forwarded stays byte for byte what came in.
    mutating func feed(_ bytes: UnsafeRawBufferPointer, _ emit: (Event) -> Void) throws(Failure) {
        for byte in bytes {
            pending.append(byte)
            if skipLF {
                skipLF = false
                if byte == 0x0A {
                    lineStart = pending.count
                    continue
                }
            }
            if byte == 0x0A || byte == 0x0D {
                skipLF = byte == 0x0D
                let start = lineStart, end = pending.count - 1
                lineStart = pending.count
                if end == start { dispatch(emit) } else { line(start, end) }
            } else if pending.count > maximumEventBytes {
                throw .eventTooLarge(pending.count)
            }
        }
    }

    /// Bytes left after the last complete event (an unterminated one), and a reset.
    mutating func finish() -> [UInt8] {
        defer {
            pending = []
            lineStart = 0
            skipLF = false
            data = nil
            name = nil
        }
        return pending
    }

    private mutating func line(_ start: Int, _ end: Int) {
        if pending[start] == 0x3A { return } // a comment
        var colon = start
        while colon < end && pending[colon] != 0x3A { colon += 1 }
        var valueStart = colon < end ? colon + 1 : end
        if valueStart < end && pending[valueStart] == 0x20 { valueStart += 1 }
        let field = pending[start..<colon]
        if field.elementsEqual("data".utf8) {
            if data == nil { data = [] } else { data!.append(0x0A) }
            data!.append(contentsOf: pending[valueStart..<end])
        } else if field.elementsEqual("event".utf8) {
            name = Array(pending[valueStart..<end])
        }
    }

    private mutating func dispatch(_ emit: (Event) -> Void) {
        let event = Event(raw: pending, data: data, name: name)
        pending.removeAll(keepingCapacity: true)
        lineStart = 0
        data = nil
        name = nil
        emit(event)
    }
}
