import Net

/// Where a proxied AI call's answer goes: the HTTP client that asked (`RequestContext`), or a
/// generation job collecting it (`Features/Jobs`). `ProxyCall` and the caches' replay write
/// only through this, so a job's call takes the proxy's own path — targets, fallbacks,
/// budgets, caches, usage rows — and no second HTTP client exists. Loop thread only.
protocol AIAnswerSink {
    var loop: EventLoop { get }
    /// Whether anyone still waits for the answer: a client gone or a job cancelled stops the
    /// upstream call, so nobody pays for an answer nobody reads.
    var isWaiting: Bool { get }
    /// A whole answer: the upstream's (success or its error, as it sent it).
    func answer(status: HTTPStatus, headers: [(String, String)], body: [UInt8])
    /// An error of the proxy's own, in OpenAI's shape.
    func fail(_ error: OpenAIError)
    /// A stream's start (200, Server-Sent Events), once its first event has arrived.
    func openStream(headers: [(String, String)])
    /// One event of the stream, framed (`data: …\n\n`).
    func streamEvent(_ raw: [UInt8])
    func closeStream()
}

/// Who an AI call is made for: whose usage rows and token budget it counts against.
struct AICaller {
    let tenantID: String
    let keyID: String
    let tokensPerMinute: Int64?

    init(tenantID: String, keyID: String, tokensPerMinute: Int64?) {
        self.tenantID = tenantID
        self.keyID = keyID
        self.tokensPerMinute = tokensPerMinute
    }

    init(_ principal: Principal) {
        self.init(tenantID: principal.tenantID, keyID: principal.keyID, tokensPerMinute: principal.tokensPerMinute)
    }
}

extension RequestContext: AIAnswerSink {
    var isWaiting: Bool { responder.isPending }

    func answer(status: HTTPStatus, headers: [(String, String)], body: [UInt8]) {
        send(status: status, headers: headers, body: .bytes(body))
    }

    func fail(_ error: OpenAIError) { send(error) }

    func openStream(headers: [(String, String)]) {
        startStream(status: .ok, contentType: "text/event-stream; charset=utf-8", headers: headers)
    }

    func streamEvent(_ raw: [UInt8]) { responder.writeChunk(raw) }

    func closeStream() { responder.finishStream() }
}
