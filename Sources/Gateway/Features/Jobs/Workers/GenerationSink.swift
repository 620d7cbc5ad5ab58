import Net

/// A generation job's end of a proxied call (`AIAnswerSink`): each content delta of the
/// model's stream handed on as it arrives, the whole text kept, and how the answer ended —
/// completed, or the failure with its status and code — for the run to decide what the job
/// becomes. Also takes whole answers (the embeddings call, an upstream's error). Loop-owned.
final class GenerationSink: AIAnswerSink {
    let loop: EventLoop
    let onDelta: (String) -> Void
    /// Set by the run to stop paying for the answer (cancelled, claim lost, draining).
    var stopped = false
    private(set) var text = ""
    /// A whole answer's status and body.
    private(set) var status: Int?
    private(set) var body: [UInt8] = []
    /// The proxy's own error, or the one a stream ended with.
    private(set) var errorMessage: String?
    private(set) var errorCode: String?
    private(set) var errorType: String?
    private(set) var streamClosed = false
    private(set) var sawDone = false

    init(loop: EventLoop, onDelta: @escaping (String) -> Void = { _ in }) {
        self.loop = loop
        self.onDelta = onDelta
    }

    var isWaiting: Bool { !stopped && !streamClosed && status == nil }

    /// Whether the stream ran to its `[DONE]` with no error event.
    var streamCompleted: Bool { streamClosed && sawDone && errorMessage == nil }

    func answer(status: HTTPStatus, headers: [(String, String)], body: [UInt8]) {
        self.status = status.rawValue
        self.body = body
        guard !(200..<300).contains(status.rawValue) else { return }
        if case .object(let o)? = try? JSONParser.parse(body), case .object(let e)? = o["error"] {
            if case .string(let m)? = e["message"] { errorMessage = m }
            if case .string(let c)? = e["code"] { errorCode = c }
            if case .string(let t)? = e["type"] { errorType = t }
        }
        if errorMessage == nil { errorMessage = "the upstream answered \(status.rawValue)" }
    }

    func fail(_ error: OpenAIError) {
        status = error.status.rawValue
        errorMessage = error.message
        errorCode = error.code
        errorType = error.type
    }

    func openStream(headers: [(String, String)]) { status = nil }

    func streamEvent(_ raw: [UInt8]) {
        guard let data = GenerationSink.data(of: raw) else { return }
        if data.elementsEqual("[DONE]".utf8) {
            sawDone = true
            return
        }
        guard case .object(let chunk)? = try? JSONParser.parse(data) else { return }
        if case .object(let e)? = chunk["error"] {
            errorMessage = { if case .string(let m)? = e["message"] { return m }; return "the stream failed" }()
            if case .string(let c)? = e["code"] { errorCode = c }
            return
        }
        guard case .array(let choices)? = chunk["choices"], case .object(let choice)? = choices.first,
              case .object(let delta)? = choice["delta"], case .string(let content)? = delta["content"], !content.isEmpty else { return }
        text += content
        onDelta(content)
    }

    func closeStream() { streamClosed = true }

    /// An event's `data` lines joined (SSE: several lines are one value, `\n` between).
    static func data(of raw: [UInt8]) -> [UInt8]? {
        var out: [UInt8]?
        var start = 0
        while start < raw.count {
            var end = start
            while end < raw.count, raw[end] != 0x0A { end += 1 }
            var line = raw[start..<end]
            if line.last == 0x0D { line = line.dropLast() }
            if line.starts(with: "data:".utf8) {
                var value = line.dropFirst(5)
                if value.first == 0x20 { value = value.dropFirst() }
                if out == nil { out = [] } else { out!.append(0x0A) }
                out!.append(contentsOf: value)
            }
            start = end + 1
        }
        return out
    }
}
