import Net

/// Anthropic's answers as OpenAI's: a whole message as a `chat.completion`, an error as
/// `{"error": …}`, and a stream's events as `chat.completion.chunk`s (`AnthropicAnswer.Stream`).
///
/// Usage follows LiteLLM's reading, so totals agree across gateways: prompt tokens are the
/// input plus the cache writes and reads, and the reads are `prompt_tokens_details.cached_tokens`.
/// Stop reasons map as `map_finish_reason` does: end_turn and stop_sequence → stop,
/// max_tokens → length, tool_use → tool_calls, refusal → content_filter.
enum AnthropicAnswer {
    static func finishReason(_ stop: String?) -> String {
        switch stop {
        case "max_tokens"?: return "length"
        case "tool_use"?: return "tool_calls"
        case "refusal"?: return "content_filter"
        default: return "stop"
        }
    }

    static func int(_ o: JSONObject, _ key: String) -> Int64 {
        if case .number(let t)? = o[key], let n = Int64(t) { return n }
        return 0
    }

    static func writeUsage(_ usage: JSONObject, output: Int64? = nil, into w: inout JSONWriter) {
        let cacheRead = int(usage, "cache_read_input_tokens")
        let prompt = int(usage, "input_tokens") + int(usage, "cache_creation_input_tokens") + cacheRead
        let completion = output ?? int(usage, "output_tokens")
        w.raw("{\"prompt_tokens\":"); w.raw(String(prompt))
        w.raw(",\"completion_tokens\":"); w.raw(String(completion))
        w.raw(",\"total_tokens\":"); w.raw(String(prompt + completion))
        w.raw(",\"prompt_tokens_details\":{\"cached_tokens\":"); w.raw(String(cacheRead)); w.raw("}}")
    }

    /// A whole Messages answer as a chat completion; nil when it is not one.
    static func completion(_ body: [UInt8], created: Int) -> [UInt8]? {
        guard let value = try? JSONParser.parse(body), case .object(let m) = value, case .array(let content)? = m["content"] else { return nil }
        var text: String?
        var calls: [(id: String, name: String, input: JSONValue)] = []
        for case .object(let block) in content {
            switch block["type"] {
            case .string("text")?:
                if case .string(let t)? = block["text"] { text = (text ?? "") + t }
            case .string("tool_use")?:
                if case .string(let id)? = block["id"], case .string(let name)? = block["name"] {
                    calls.append((id, name, block["input"] ?? .object(JSONObject())))
                }
            default: break // thinking blocks have no OpenAI equivalent
            }
        }
        var w = JSONWriter(capacity: body.count + 256)
        w.raw("{\"id\":")
        if case .string(let id)? = m["id"] { w.string("chatcmpl-" + id) } else { w.raw("\"chatcmpl-anthropic\"") }
        w.raw(",\"object\":\"chat.completion\",\"created\":"); w.number(created)
        w.raw(",\"model\":")
        if case .string(let model)? = m["model"] { w.string(model) } else { w.raw("null") }
        w.raw(",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":")
        if let text { w.string(text) } else { w.raw("null") }
        if !calls.isEmpty {
            w.raw(",\"tool_calls\":[")
            for (i, call) in calls.enumerated() {
                if i > 0 { w.raw(",") }
                w.raw("{\"id\":"); w.string(call.id)
                w.raw(",\"type\":\"function\",\"function\":{\"name\":"); w.string(call.name)
                var arguments = JSONWriter()
                JSONValueWriter.write(call.input, into: &arguments)
                w.raw(",\"arguments\":"); w.string(String(decoding: arguments.bytes, as: UTF8.self))
                w.raw("}}")
            }
            w.raw("]")
        }
        var stop: String?
        if case .string(let s)? = m["stop_reason"] { stop = s }
        w.raw(",\"refusal\":null},\"logprobs\":null,\"finish_reason\":"); w.string(finishReason(stop))
        w.raw("}],\"usage\":")
        if case .object(let usage)? = m["usage"] { writeUsage(usage, into: &w) } else { w.raw("null") }
        w.raw("}")
        return w.bytes
    }

    /// An Anthropic error answer (`{"type":"error","error":{"type","message"}}`) as OpenAI's;
    /// any other body is kept as the message.
    static func error(_ body: [UInt8], status: Int) -> OpenAIError {
        var type = status == 429 ? "rate_limit_error" : status >= 500 ? "api_error" : "invalid_request_error"
        var message = String(decoding: body.prefix(1024), as: UTF8.self)
        if let value = try? JSONParser.parse(body), case .object(let o) = value, case .object(let e)? = o["error"] {
            if case .string(let t)? = e["type"] { type = t }
            if case .string(let m)? = e["message"] { message = m }
        }
        // 529 (overloaded) is not a status the client knows; 503 means the same to it.
        let code = status == 529 ? 503 : status
        return OpenAIError(HTTPStatus(code), message, type: type, code: type)
    }
}

extension AnthropicAnswer {
    /// Anthropic's stream events, one at a time, as the OpenAI chunks a client expects:
    /// message_start → the role chunk; text deltas → `delta.content`; a tool_use block → a
    /// `tool_calls` entry, its input_json deltas → `arguments` fragments; message_delta → the
    /// finish_reason chunk; message_stop → the `choices: []` usage chunk and `[DONE]`; an
    /// `error` event → `data: {"error": …}`. Pings and thinking are dropped.
    struct Stream {
        var id = "chatcmpl-anthropic"
        var model = ""
        let created: Int
        var usage = JSONObject()
        var outputTokens: Int64 = 0
        /// Anthropic's content block index → the OpenAI tool call index.
        var toolIndex: [Int: Int] = [:]
        /// Whether the upstream reported an error event (the stream has been told).
        var failed = false

        init(created: Int) { self.created = created }

        /// The OpenAI events (whole `data: …\n\n` byte strings) for one Anthropic event.
        mutating func translate(_ data: [UInt8]) -> [[UInt8]] {
            guard let value = try? JSONParser.parse(data), case .object(let e) = value, case .string(let type)? = e["type"] else { return [] }
            switch type {
            case "message_start":
                if case .object(let m)? = e["message"] {
                    if case .string(let i)? = m["id"] { id = "chatcmpl-" + i }
                    if case .string(let name)? = m["model"] { model = name }
                    if case .object(let u)? = m["usage"] { usage = u }
                }
                return [chunk("{\"role\":\"assistant\",\"content\":\"\"}")]
            case "content_block_start":
                guard case .object(let block)? = e["content_block"], block["type"] == .string("tool_use"),
                      case .number(let t)? = e["index"], let index = Int(t),
                      case .string(let callID)? = block["id"], case .string(let name)? = block["name"] else { return [] }
                let k = toolIndex.count
                toolIndex[index] = k
                var w = JSONWriter()
                w.raw("{\"tool_calls\":[{\"index\":"); w.number(k)
                w.raw(",\"id\":"); w.string(callID)
                w.raw(",\"type\":\"function\",\"function\":{\"name\":"); w.string(name)
                w.raw(",\"arguments\":\"\"}}]}")
                return [chunk(String(decoding: w.bytes, as: UTF8.self))]
            case "content_block_delta":
                guard case .object(let delta)? = e["delta"] else { return [] }
                var w = JSONWriter()
                switch delta["type"] {
                case .string("text_delta")?:
                    guard case .string(let text)? = delta["text"] else { return [] }
                    w.raw("{\"content\":"); w.string(text); w.raw("}")
                case .string("input_json_delta")?:
                    guard case .string(let part)? = delta["partial_json"], case .number(let t)? = e["index"],
                          let index = Int(t), let k = toolIndex[index] else { return [] }
                    w.raw("{\"tool_calls\":[{\"index\":"); w.number(k)
                    w.raw(",\"function\":{\"arguments\":"); w.string(part); w.raw("}}]}")
                default: return []
                }
                return [chunk(String(decoding: w.bytes, as: UTF8.self))]
            case "message_delta":
                if case .object(let u)? = e["usage"] {
                    outputTokens = AnthropicAnswer.int(u, "output_tokens")
                    // Newer streams also repeat the input counts here.
                    for key in ["input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"] where u[key] != nil { usage.set(key, u[key]!) }
                }
                var stop: String?
                if case .object(let d)? = e["delta"], case .string(let s)? = d["stop_reason"] { stop = s }
                return [chunk("{}", finish: AnthropicAnswer.finishReason(stop))]
            case "message_stop":
                var w = JSONWriter()
                header(&w)
                w.raw("[],\"usage\":")
                AnthropicAnswer.writeUsage(usage, output: outputTokens, into: &w)
                w.raw("}\n\n")
                return [w.bytes, Array("data: [DONE]\n\n".utf8)]
            case "error":
                failed = true
                var message = "the upstream stream failed"
                var kind = "api_error"
                if case .object(let err)? = e["error"] {
                    if case .string(let m)? = err["message"] { message = m }
                    if case .string(let t)? = err["type"] { kind = t }
                }
                return [OpenAIError(.badGateway, message, type: kind, code: kind).streamEvent()]
            default:
                return [] // ping, content_block_stop, thinking
            }
        }

        func header(_ w: inout JSONWriter) {
            w.raw("data: {\"id\":"); w.string(id)
            w.raw(",\"object\":\"chat.completion.chunk\",\"created\":"); w.number(created)
            w.raw(",\"model\":"); w.string(model)
            w.raw(",\"choices\":")
        }

        func chunk(_ delta: String, finish: String? = nil) -> [UInt8] {
            var w = JSONWriter(capacity: 160 + delta.utf8.count)
            header(&w)
            w.raw("[{\"index\":0,\"delta\":"); w.raw(delta)
            w.raw(",\"logprobs\":null,\"finish_reason\":")
            if let finish { w.string(finish) } else { w.raw("null") }
            w.raw("}]}\n\n")
            return w.bytes
        }
    }
}
