import Net
import Storage
import UpstreamClient

/// One proxied AI call, from the first target to the answer's last byte (written to its
/// `AIAnswerSink`: the HTTP client, or a generation job): the fallback loop.
///
/// Before the first byte reaches the client every failure can still be hidden — a connect
/// error, a timeout, a 429 or 5xx (or a 401/403/404: that target is misconfigured) moves to
/// the next target, or, on the last one, waits out a short `Retry-After` and tries it again;
/// a target whose circuit is open is skipped without paying its timeout. So a stream is
/// committed (its 200 sent) only when the upstream's first event has arrived, not at its
/// status line. After that, a failure can only be told: the stream ends with a
/// `data: {"error": …}` event, never with a clean end the client would take for a complete
/// answer. Upstream client errors (400, 413, 422 …) are the caller's and pass through as they
/// are. Loop thread only.
final class ProxyCall {
    enum Answer {
        /// The upstream's answer is collected and sent whole (chat without stream, embeddings).
        case buffered
        /// Server-Sent Events passed through as they come; `clientAskedUsage` says whether the
        /// final `choices: []` usage chunk is the client's or only the proxy's.
        case stream(clientAskedUsage: Bool)
    }

    /// What the call ended with, for the budget and the usage row.
    struct Outcome {
        var target: String?
        var status: Int
        /// Tokens the upstream reported, nil when it reported none.
        var totalTokens: Int64?
        var promptTokens: Int64?
        var completionTokens: Int64?
    }

    enum Failure {
        case status(UpstreamHead, [UInt8])
        case transport(UpstreamError)
        case circuitOpen(waitMs: UInt64)
        /// The request cannot be put to that target (an Anthropic one and `n` > 1, say).
        case refused(OpenAIError)
    }

    let sink: any AIAnswerSink
    let state: AIProxyLoopState
    let settings: AIProxyConfiguration
    let model: String
    let targets: [ModelTable.Target]
    let path: String
    let answer: Answer
    let body: (ModelTable.Target) throws(OpenAIError) -> [UInt8]
    let done: (Outcome) -> Void
    /// Keeps a complete answer (and the target that gave it), when this request's answer may
    /// be kept (nil: bypass).
    let keep: ((ExactCache.Answer, String) -> Void)?
    /// The stream's events as forwarded, for the cache; nil once it cannot be cached.
    var recorded: [(raw: [UInt8], usageOnly: Bool)]? = []

    var next = 0
    var retries = 0
    var transfer: UpstreamTransfer?
    var head: UpstreamHead?
    var failing = false
    var buffer: [UInt8] = []
    var committed = false
    var framer = SSEFramer()
    var sawDone = false
    var outcome = Outcome(status: 0)
    var lastFailure: Failure?
    var tooLarge = false
    /// The translation of this attempt's stream, when its target is Anthropic.
    var anthropic: AnthropicAnswer.Stream?

    /// Bytes of an answer the proxy holds at once (a buffered answer, a failed attempt's body).
    static let maximumBuffered = 64 << 20
    static let maximumFailureBody = 64 << 10

    init(sink: any AIAnswerSink, state: AIProxyLoopState, settings: AIProxyConfiguration, model: String,
         targets: [ModelTable.Target], path: String, answer: Answer, keep: ((ExactCache.Answer, String) -> Void)?,
         body: @escaping (ModelTable.Target) throws(OpenAIError) -> [UInt8], done: @escaping (Outcome) -> Void) {
        self.keep = keep
        self.sink = sink
        self.state = state
        self.settings = settings
        self.model = model
        self.targets = targets
        self.path = path
        self.answer = answer
        self.body = body
        self.done = done
    }

    var loop: EventLoop { sink.loop }

    func start() { attempt() }

    // MARK: Attempts

    func attempt() {
        let now = loop.nowMilliseconds
        while next < targets.count, !state.breakers[targets[next].index].admit(nowMs: now) {
            if lastFailure == nil { lastFailure = .circuitOpen(waitMs: state.breakers[targets[next].index].waitMs(nowMs: now)) }
            next += 1
        }
        guard next < targets.count else { return giveUp() }
        let target = targets[next]
        let payload: [UInt8]
        do throws(OpenAIError) { payload = try body(target) } catch {
            lastFailure = .refused(error)
            next += 1
            return attempt()
        }
        let isAnthropic = target.provider.kind == .anthropic
        var request = UpstreamRequest(url: target.provider.baseURL + (isAnthropic ? "/messages" : path), body: payload)
        request.sharedHeaders = state.headers(for: target, streaming: isStream)
        request.connectTimeoutMs = settings.connectTimeoutMs
        request.firstByteTimeoutMs = settings.firstByteTimeoutMs
        request.idleTimeoutMs = settings.idleTimeoutMs
        request.totalTimeoutMs = settings.totalTimeoutMs
        head = nil
        failing = false
        buffer = []
        framer = SSEFramer()
        sawDone = false
        recorded = keep == nil ? nil : []
        anthropic = isAnthropic ? AnthropicAnswer.Stream(created: ProxyCall.created()) : nil
        transfer = state.client.start(request,
                                      onHead: { [self] in received($0) },
                                      onBody: { [self] in received($0) },
                                      onEnd: { [self] in ended($0, target) })
    }

    var isStream: Bool {
        if case .stream = answer { return true }
        return false
    }

    static func isTargetFailure(_ status: Int) -> Bool {
        status == 401 || status == 403 || status == 404 || status == 408 || status == 409 || status == 429 || status >= 500
    }

    func received(_ head: UpstreamHead) {
        self.head = head
        failing = ProxyCall.isTargetFailure(head.status)
    }

    func received(_ bytes: UnsafeRawBufferPointer) {
        guard let head else { return }
        if case .stream = answer, !failing, (200..<300).contains(head.status) {
            guard sink.isWaiting else {
                // The client went away: stop paying for its answer.
                transfer?.cancel()
                return
            }
            if !committed { commitStream() }
            do throws(SSEFramer.Failure) {
                if anthropic != nil {
                    try framer.feed(bytes) { event in translate(event) }
                } else {
                    try framer.feed(bytes) { event in forward(event) }
                }
            } catch {
                transfer?.cancel()
            }
            return
        }
        let limit = failing ? ProxyCall.maximumFailureBody : ProxyCall.maximumBuffered
        guard buffer.count + bytes.count <= limit else {
            // A failed attempt's body is only evidence: its first bytes are enough. An answer
            // over the limit would be as large from any other target: the call ends here.
            if !failing {
                tooLarge = true
                transfer?.cancel()
            }
            return
        }
        buffer.append(contentsOf: bytes)
    }

    func ended(_ error: UpstreamError?, _ target: ModelTable.Target) {
        transfer = nil
        let now = loop.nowMilliseconds
        if committed {
            finishStream(error, target, now: now)
            return
        }
        if tooLarge {
            let error = OpenAIError(.badGateway, "the upstream's answer exceeds \(ProxyCall.maximumBuffered >> 20) MiB",
                                    type: "server_error", code: "upstream_answer_too_large")
            outcome.status = error.status.rawValue
            sink.fail(error)
            return done(outcome)
        }
        if let error {
            state.breakers[target.index].recordFailure(nowMs: now)
            lastFailure = .transport(error)
            return moveOn(retryAfterMs: nil)
        }
        guard let head else {
            state.breakers[target.index].recordFailure(nowMs: now)
            lastFailure = .transport(.transfer("no answer"))
            return moveOn(retryAfterMs: nil)
        }
        let fromAnthropic = target.provider.kind == .anthropic
        if failing {
            state.breakers[target.index].recordFailure(nowMs: now)
            lastFailure = .status(head, fromAnthropic ? AnthropicAnswer.error(buffer, status: head.status).body() : buffer)
            return moveOn(retryAfterMs: (head.status == 429 || head.status == 503) ? RetryAfter.milliseconds(head.value) : nil)
        }
        if case .stream = answer, (200..<300).contains(head.status) {
            // A stream that ended before its first event has told the client nothing yet.
            state.breakers[target.index].recordFailure(nowMs: now)
            lastFailure = .transport(.transfer("the upstream ended the stream before its first event"))
            return moveOn(retryAfterMs: nil)
        }
        state.breakers[target.index].recordSuccess()
        outcome.target = target.name
        outcome.status = head.status
        var headers = answerHeaders(target)
        var contentType = head.value("content-type") ?? "application/json"
        if fromAnthropic {
            contentType = "application/json"
            if (200..<300).contains(head.status), let translated = AnthropicAnswer.completion(buffer, created: ProxyCall.created()) {
                buffer = translated
            } else {
                buffer = AnthropicAnswer.error(buffer, status: head.status).body()
                if (200..<300).contains(head.status) { outcome.status = 502 }
            }
        }
        if (200..<300).contains(outcome.status) { readUsage(buffer) }
        headers.append(("Content-Type", contentType))
        // Errors and answers cut by their token ceiling are not kept.
        if let keep, outcome.status == 200, !ProxyCall.stoppedAtLength(buffer) {
            keep(.whole(status: 200, contentType: contentType, body: buffer), target.name)
        }
        sink.answer(status: HTTPStatus(outcome.status), headers: headers, body: buffer)
        done(outcome)
    }

    /// The next target, or the last one again after its `Retry-After` when that is short.
    func moveOn(retryAfterMs: UInt64?) {
        if next == targets.count - 1, let wait = retryAfterMs, wait <= settings.maxRetryWaitMs, retries < 2,
           sink.isWaiting {
            retries += 1
            loop.schedule(afterMilliseconds: wait) { [self] in attempt() }
            return
        }
        next += 1
        attempt()
    }

    func answerHeaders(_ target: ModelTable.Target) -> [(String, String)] {
        [("X-AIWriter-Target", target.name), ("X-AIWriter-Cache", keep == nil ? "bypass" : "miss")]
    }

    /// Every target failed or was skipped: the client gets the most telling failure.
    func giveUp() {
        let error: OpenAIError
        switch lastFailure {
        case .status(let head, let body)?:
            outcome.status = head.status
            var headers: [(String, String)] = [("X-AIWriter-Cache", "bypass")]
            if let wait = RetryAfter.milliseconds(head.value) {
                headers.append(("Retry-After", String((wait + 999) / 1000)))
                headers.append(("retry-after-ms", String(wait)))
            }
            if ProxyCall.looksLikeOpenAIError(body) {
                headers.append(("Content-Type", "application/json"))
                sink.answer(status: HTTPStatus(head.status), headers: headers, body: body)
                done(outcome)
                return
            }
            error = OpenAIError(HTTPStatus(head.status),
                                "every target of model \(model) failed; the last answered \(head.status)",
                                type: head.status == 429 ? "requests" : "server_error", code: "upstream_error", headers: headers)
        case .transport(let failure)?:
            switch failure {
            case .firstByteTimeout, .idleTimeout, .totalTimeout:
                error = OpenAIError(.gatewayTimeout, "every target of model \(model) failed; the last: \(failure)", type: "server_error", code: "upstream_timeout")
            default:
                error = OpenAIError(.badGateway, "every target of model \(model) failed; the last: \(failure)", type: "server_error", code: "upstream_unavailable")
            }
        case .circuitOpen(let wait)?:
            let seconds = max(1, (wait + 999) / 1000)
            error = OpenAIError(.serviceUnavailable, "every target of model \(model) is failing; the next probe is in \(seconds) s",
                                type: "server_error", code: "upstream_unavailable",
                                headers: [("Retry-After", String(seconds)), ("retry-after-ms", String(max(wait, 1)))])
        case .refused(let refusal)?:
            error = refusal
        case nil:
            error = OpenAIError(.badGateway, "model \(model) has no target", type: "server_error", code: "upstream_unavailable")
        }
        outcome.status = error.status.rawValue
        sink.fail(error)
        done(outcome)
    }

    static func looksLikeOpenAIError(_ body: [UInt8]) -> Bool {
        guard let value = try? JSONParser.parse(body), case .object(let object) = value, case .object? = object["error"] else { return false }
        return true
    }

    // MARK: Streams

    func commitStream() {
        committed = true
        guard let target = next < targets.count ? targets[next] : nil else { return }
        var headers = answerHeaders(target)
        headers.append(("Cache-Control", "no-cache"))
        headers.append(("X-Accel-Buffering", "no"))
        sink.openStream(headers: headers)
        outcome.target = target.name
        outcome.status = 200
    }

    /// An Anthropic event, forwarded as the OpenAI chunks it stands for.
    func translate(_ event: SSEFramer.Event) {
        guard let data = event.data else { return }
        for raw in anthropic!.translate(data) {
            // Each translated event is `data: <json>\n\n`.
            forward(SSEFramer.Event(raw: raw, data: Array(raw[6..<(raw.count - 2)]), name: nil))
        }
    }

    func forward(_ event: SSEFramer.Event) {
        var usageOnly = false
        if let data = event.data {
            if data.starts(with: "[DONE]".utf8) {
                sawDone = true
            } else if let usage = ProxyCall.usageObject(data) {
                // Every chunk of a stream with include_usage says `"usage": null`; only the one
                // that carries an object is looked at further.
                record(usage)
                usageOnly = ProxyCall.hasNoChoices(data)
            }
            if recorded != nil, ProxyCall.stoppedAtLength(data) { recorded = nil }
        }
        recorded?.append((event.raw, usageOnly))
        if usageOnly, case .stream(let clientAskedUsage) = answer, !clientAskedUsage { return }
        sink.streamEvent(event.raw)
    }

    /// Whether an answer (or a stream chunk) has a choice that ended at its token ceiling.
    static func stoppedAtLength(_ json: [UInt8]) -> Bool {
        guard contains(lengthNeedle, in: json), let value = try? JSONParser.parse(json), case .object(let object) = value,
              case .array(let choices)? = object["choices"] else { return false }
        for case .object(let choice) in choices where choice["finish_reason"] == .string("length") { return true }
        return false
    }

    func finishStream(_ error: UpstreamError?, _ target: ModelTable.Target, now: UInt64) {
        let rest = framer.finish()
        if !rest.isEmpty { sink.streamEvent(rest) }
        if anthropic?.failed == true {
            // The upstream's error event has been forwarded: the stream is already told.
            state.breakers[target.index].recordFailure(nowMs: now)
            outcome.status = 502
        } else if let error, error != .cancelled {
            state.breakers[target.index].recordFailure(nowMs: now)
            outcome.status = 502
            sink.streamEvent(OpenAIError(.badGateway, "the upstream stream failed: \(error)", type: "server_error",
                                                     code: "upstream_stream_failed").streamEvent())
        } else if error == nil, !sawDone {
            state.breakers[target.index].recordFailure(nowMs: now)
            outcome.status = 502
            sink.streamEvent(OpenAIError(.badGateway, "the upstream ended the stream before [DONE]", type: "server_error",
                                                     code: "upstream_stream_cut").streamEvent())
        } else if error == nil {
            state.breakers[target.index].recordSuccess()
            if let keep, let recorded { keep(.stream(recorded), target.name) }
        }
        sink.closeStream()
        done(outcome)
    }

    /// Seconds since 1970, for the `created` of answers the proxy writes itself.
    static func created() -> Int { Int(Store.now / 1000) }

    // MARK: Usage

    static let usageNeedle = Array("\"usage\"".utf8)
    static let lengthNeedle = Array("\"length\"".utf8)

    /// A byte search cheap enough to run on every chunk: most chunks carry neither word, and
    /// only those that do are parsed.
    static func contains(_ needle: [UInt8], in data: [UInt8]) -> Bool {
        guard data.count >= needle.count else { return false }
        var i = 0
        while i + needle.count <= data.count {
            if data[i] == needle[0], data[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }

    /// Whether a chunk's `choices` is empty: the final usage chunk (parsed whole; one a stream).
    static func hasNoChoices(_ data: [UInt8]) -> Bool {
        guard let value = try? JSONParser.parse(data), case .object(let object) = value, case .array(let choices)? = object["choices"] else { return false }
        return choices.isEmpty
    }

    func readUsage(_ body: [UInt8]) {
        if let usage = ProxyCall.usageObject(body) { record(usage) }
    }

    /// The top-level `usage` object of an answer without parsing the answer: the last
    /// `"usage"` key (OpenAI writes it last) followed by `:` and an object, that object's bytes
    /// found by brace matching outside strings, and only those parsed. Inside a JSON string a
    /// quote is always escaped, so an unescaped `"usage"` is a key. Parsing a 1 KiB answer
    /// whole for its usage was 7 % of the proxy's CPU.
    static func usageObject(_ body: [UInt8]) -> JSONObject? {
        let needle = usageNeedle
        var i = body.count - needle.count
        while i >= 0 {
            if body[i] == 0x22, body[i..<(i + needle.count)].elementsEqual(needle), i == 0 || body[i - 1] != 0x5C {
                var j = i + needle.count
                func skipSpace() { while j < body.count, body[j] == 0x20 || body[j] == 0x0A || body[j] == 0x0D || body[j] == 0x09 { j += 1 } }
                skipSpace()
                guard j < body.count, body[j] == 0x3A else { return nil }
                j += 1
                skipSpace()
                guard j < body.count, body[j] == 0x7B else { return nil }
                let start = j
                var depth = 0
                var inString = false
                while j < body.count {
                    let c = body[j]
                    if inString {
                        if c == 0x5C { j += 1 } else if c == 0x22 { inString = false }
                    } else if c == 0x22 {
                        inString = true
                    } else if c == 0x7B {
                        depth += 1
                    } else if c == 0x7D {
                        depth -= 1
                        if depth == 0 { break }
                    }
                    j += 1
                }
                guard j < body.count, let value = try? JSONParser.parse(Array(body[start...j])), case .object(let usage) = value else { return nil }
                return usage
            }
            i -= 1
        }
        return nil
    }

    func record(_ usage: JSONObject) {
        func int(_ key: String) -> Int64? {
            if case .number(let text)? = usage[key] { return Int64(text) }
            return nil
        }
        outcome.promptTokens = int("prompt_tokens")
        outcome.completionTokens = int("completion_tokens")
        outcome.totalTokens = int("total_tokens") ?? outcome.promptTokens.map { $0 + (outcome.completionTokens ?? 0) }
    }
}
