import Net
import UpstreamClient

/// The semantic cache's embeddings, from the model `ai-semantic-model` names, through the
/// proxy's own targets, breakers and libcurl client on the request's loop. A prompt that
/// cannot be embedded (every target failed, an answer without a vector) is simply not looked
/// up: the call goes on as a miss, slowed only by the failed attempt's timeouts.
struct PromptEmbedder {
    let targets: [ModelTable.Target]
    let settings: AIProxyConfiguration

    /// Bytes of an embeddings answer kept: a 3,072-d vector in JSON floats is ~70 KiB.
    static let maximumAnswerBytes = 1 << 20

    /// Calls `done` on the loop with the unit-length embedding of `text`, or nil.
    func embed(_ text: String, state: AIProxyLoopState, loop: EventLoop, done: @escaping ([Float]?) -> Void) {
        attempt(0, text, state, loop, done)
    }

    func attempt(_ i: Int, _ text: String, _ state: AIProxyLoopState, _ loop: EventLoop, _ done: @escaping ([Float]?) -> Void) {
        let now = loop.nowMilliseconds
        var i = i
        while i < targets.count, !state.breakers[targets[i].index].admit(nowMs: now) { i += 1 }
        guard i < targets.count else { return done(nil) }
        let target = targets[i]
        var w = JSONWriter(capacity: text.utf8.count + 96)
        w.raw("{\"model\":"); w.string(target.upstreamModel)
        w.raw(",\"input\":"); w.string(text)
        w.raw(",\"encoding_format\":\"float\"}")
        var request = UpstreamRequest(url: target.provider.baseURL + "/embeddings", body: w.bytes)
        request.sharedHeaders = state.headers(for: target, streaming: false)
        request.connectTimeoutMs = settings.connectTimeoutMs
        request.firstByteTimeoutMs = settings.firstByteTimeoutMs
        request.idleTimeoutMs = settings.idleTimeoutMs
        request.totalTimeoutMs = settings.totalTimeoutMs
        var status = 0
        var body: [UInt8] = []
        state.client.start(request,
                           onHead: { status = $0.status },
                           onBody: { bytes in if body.count + bytes.count <= PromptEmbedder.maximumAnswerBytes { body.append(contentsOf: bytes) } },
                           onEnd: { error in
                               let vector = error == nil && status == 200 ? PromptEmbedder.vector(body) : nil
                               if vector != nil {
                                   state.breakers[target.index].recordSuccess()
                                   return done(vector)
                               }
                               state.breakers[target.index].recordFailure(nowMs: loop.nowMilliseconds)
                               attempt(i + 1, text, state, loop, done)
                           })
    }

    /// `data[0].embedding` of an OpenAI embeddings answer, normalised to unit length.
    static func vector(_ body: [UInt8]) -> [Float]? {
        guard let value = try? JSONParser.parse(body), case .object(let object) = value,
              case .array(let data)? = object["data"], case .object(let first)? = data.first,
              case .array(let numbers)? = first["embedding"], !numbers.isEmpty, numbers.count <= 65_536 else { return nil }
        var vector = [Float]()
        vector.reserveCapacity(numbers.count)
        var norm: Float = 0
        for case .number(let text) in numbers {
            guard let x = Float(text), x.isFinite else { return nil }
            vector.append(x)
            norm += x * x
        }
        guard vector.count == numbers.count, norm > 0 else { return nil }
        let scale = 1 / norm.squareRoot()
        return vector.map { $0 * scale }
    }
}
