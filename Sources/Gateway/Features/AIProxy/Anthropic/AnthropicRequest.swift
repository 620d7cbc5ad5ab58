import Net

/// An OpenAI chat request as Anthropic's Messages API takes it (`POST {base-url}/messages`),
/// for targets whose provider is `kind: anthropic` (the table in
/// `../shared/reference/openai-api.md`, §6).
///
/// System and developer messages become the top-level `system`; tool results become user
/// messages of `tool_result` blocks and assistant tool calls `tool_use` blocks (their
/// `arguments` parsed: Anthropic takes an object); consecutive messages of one role are merged,
/// since Anthropic wants the roles to alternate. `max_tokens` is required there: the client's
/// ceiling, else `defaultMaxTokens`. `temperature` is clamped to Anthropic's 0–1, `stop`
/// becomes `stop_sequences`, `user` `metadata.user_id`, tools and `tool_choice` their
/// Anthropic forms. What Anthropic has no equivalent for is refused (`n` > 1, a JSON
/// `response_format`, audio and file parts): the target is skipped and, when no other target
/// can take the request, the client gets 400 naming the field. Sampling fields it lacks
/// (`seed`, penalties, `logit_bias`, `logprobs`) are dropped, as other gateways do.
enum AnthropicRequest {
    static let version = "2023-06-01"
    static let defaultMaxTokens: Int64 = 4_096

    static func body(_ request: AIRequest, model: String) throws(OpenAIError) -> [UInt8] {
        let object = request.object
        var system: [String] = []
        var turns: [(role: String, blocks: [JSONValue])] = []
        func add(_ role: String, _ blocks: [JSONValue]) {
            if let last = turns.last, last.role == role {
                turns[turns.count - 1].blocks += blocks
            } else {
                turns.append((role, blocks))
            }
        }
        guard case .array(let messages)? = object["messages"] else { throw .invalid("'messages' must be an array", param: "messages") }
        for (i, message) in messages.enumerated() {
            guard case .object(let m) = message, case .string(let role)? = m["role"] else {
                throw .invalid("messages[\(i)] must be an object with a role", param: "messages")
            }
            switch role {
            case "system", "developer":
                system.append(try text(m["content"], at: i))
            case "user":
                add("user", try blocks(m["content"], at: i))
            case "assistant":
                var content: [JSONValue] = []
                if let c = m["content"], c != .null { content = try blocks(c, at: i) }
                if case .array(let calls)? = m["tool_calls"] {
                    for call in calls {
                        guard case .object(let c) = call, case .string(let id)? = c["id"], case .object(let f)? = c["function"],
                              case .string(let name)? = f["name"] else {
                            throw .invalid("messages[\(i)].tool_calls must carry id and function.name", param: "messages")
                        }
                        var input = JSONValue.object(JSONObject())
                        if case .string(let arguments)? = f["arguments"], !arguments.isEmpty {
                            guard let parsed = try? JSONParser.parse(Array(arguments.utf8)), case .object = parsed else {
                                throw .invalid("messages[\(i)].tool_calls: arguments must be a JSON object", param: "messages")
                            }
                            input = parsed
                        }
                        content.append(block(["type": .string("tool_use"), "id": .string(id), "name": .string(name), "input": input]))
                    }
                }
                guard !content.isEmpty else { continue }
                add("assistant", content)
            case "tool", "function":
                guard case .string(let id)? = m["tool_call_id"] ?? m["name"] else {
                    throw .invalid("messages[\(i)]: a tool message needs tool_call_id", param: "messages")
                }
                add("user", [block(["type": .string("tool_result"), "tool_use_id": .string(id), "content": .string(try text(m["content"], at: i))])])
            default:
                throw .invalid("messages[\(i)].role '\(role)' is not one of system, developer, user, assistant, tool", param: "messages")
            }
        }
        if let n = try AIRequest.positive(object, "n"), n > 1 {
            throw .invalid("this model's target (Anthropic) answers one choice: 'n' must be 1", param: "n")
        }
        if case .object(let format)? = object["response_format"], format["type"] != .string("text") {
            throw .invalid("this model's target (Anthropic) has no JSON mode: response_format must be text", param: "response_format")
        }

        var w = JSONWriter(capacity: 512)
        w.raw("{\"model\":"); w.string(model)
        let completionCeiling = try AIRequest.positive(object, "max_completion_tokens")
        let legacyCeiling = try AIRequest.positive(object, "max_tokens")
        let ceiling = completionCeiling ?? legacyCeiling ?? defaultMaxTokens
        w.raw(",\"max_tokens\":"); w.raw(String(ceiling))
        if !system.isEmpty { w.raw(",\"system\":"); w.string(system.joined(separator: "\n\n")) }
        w.raw(",\"messages\":[")
        for (i, turn) in turns.enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("{\"role\":"); w.string(turn.role)
            w.raw(",\"content\":"); JSONValueWriter.write(.array(turn.blocks), into: &w)
            w.raw("}")
        }
        w.raw("]")
        if case .number(let t)? = object["temperature"], let value = Double(t) {
            w.raw(",\"temperature\":"); w.number(min(max(value, 0), 1))
        }
        if case .number(let p)? = object["top_p"] { w.raw(",\"top_p\":"); w.raw(p) }
        switch object["stop"] {
        case .string(let s)?: w.raw(",\"stop_sequences\":"); JSONValueWriter.write(.array([.string(s)]), into: &w)
        case .array(let a)?: w.raw(",\"stop_sequences\":"); JSONValueWriter.write(.array(a), into: &w)
        default: break
        }
        if request.stream { w.raw(",\"stream\":true") }
        if case .string(let user)? = object["user"] ?? object["safety_identifier"] {
            w.raw(",\"metadata\":{\"user_id\":"); w.string(user); w.raw("}")
        }
        if case .array(let tools)? = object["tools"], !tools.isEmpty {
            w.raw(",\"tools\":[")
            for (i, tool) in tools.enumerated() {
                guard case .object(let t) = tool, case .object(let f)? = t["function"], case .string(let name)? = f["name"] else {
                    throw .invalid("tools[\(i)] must be {type: function, function: {name, …}}", param: "tools")
                }
                if i > 0 { w.raw(",") }
                w.raw("{\"name\":"); w.string(name)
                if case .string(let d)? = f["description"] { w.raw(",\"description\":"); w.string(d) }
                w.raw(",\"input_schema\":")
                if case .object(let schema)? = f["parameters"] { JSONValueWriter.write(.object(schema), into: &w) } else { w.raw("{\"type\":\"object\"}") }
                w.raw("}")
            }
            w.raw("]")
        }
        var choice: String?
        switch object["tool_choice"] {
        case .string("auto")?: choice = "{\"type\":\"auto\""
        case .string("required")?: choice = "{\"type\":\"any\""
        case .string("none")?: choice = "{\"type\":\"none\""
        case .object(let c)?:
            if case .object(let f)? = c["function"], case .string(let name)? = f["name"] {
                var n = JSONWriter()
                n.string(name)
                choice = "{\"type\":\"tool\",\"name\":" + String(decoding: n.bytes, as: UTF8.self)
            }
        default: break
        }
        if object["parallel_tool_calls"] == .bool(false), object["tools"] != nil { choice = (choice ?? "{\"type\":\"auto\"") + ",\"disable_parallel_tool_use\":true" }
        if let choice { w.raw(",\"tool_choice\":"); w.raw(choice); w.raw("}") }
        w.raw("}")
        return w.bytes
    }

    static func block(_ members: KeyValuePairs<String, JSONValue>) -> JSONValue {
        var o = JSONObject()
        for (k, v) in members { o.set(k, v) }
        return .object(o)
    }

    /// A message's content as plain text (system prompts, tool results).
    static func text(_ content: JSONValue?, at i: Int) throws(OpenAIError) -> String {
        switch content {
        case .string(let s)?: return s
        case .array(let parts)?:
            var texts: [String] = []
            for part in parts {
                guard case .object(let p) = part, p["type"] == .string("text"), case .string(let t)? = p["text"] else {
                    throw .invalid("messages[\(i)].content: only text parts are allowed here", param: "messages")
                }
                texts.append(t)
            }
            return texts.joined(separator: "\n")
        case nil, .null?: return ""
        default: throw .invalid("messages[\(i)].content must be a string or an array of parts", param: "messages")
        }
    }

    /// A user or assistant message's content as Anthropic content blocks.
    static func blocks(_ content: JSONValue?, at i: Int) throws(OpenAIError) -> [JSONValue] {
        switch content {
        case .string(let s)?: return [block(["type": .string("text"), "text": .string(s)])]
        case .array(let parts)?:
            var out: [JSONValue] = []
            for part in parts {
                guard case .object(let p) = part, case .string(let type)? = p["type"] else {
                    throw .invalid("messages[\(i)].content parts must be objects with a type", param: "messages")
                }
                switch type {
                case "text":
                    guard case .string(let t)? = p["text"] else { throw .invalid("messages[\(i)]: a text part needs text", param: "messages") }
                    out.append(block(["type": .string("text"), "text": .string(t)]))
                case "image_url":
                    guard case .object(let image)? = p["image_url"], case .string(let url)? = image["url"] else {
                        throw .invalid("messages[\(i)]: an image_url part needs image_url.url", param: "messages")
                    }
                    out.append(block(["type": .string("image"), "source": try imageSource(url, at: i)]))
                default:
                    throw .invalid("messages[\(i)]: '\(type)' parts have no Anthropic equivalent", param: "messages")
                }
            }
            return out
        default: throw .invalid("messages[\(i)].content must be a string or an array of parts", param: "messages")
        }
    }

    /// `data:image/png;base64,…` → a base64 source; any other URL → a url source.
    static func imageSource(_ url: String, at i: Int) throws(OpenAIError) -> JSONValue {
        guard url.hasPrefix("data:") else { return block(["type": .string("url"), "url": .string(url)]) }
        guard let comma = url.firstIndex(of: ","), url[..<comma].hasSuffix(";base64") else {
            throw .invalid("messages[\(i)]: an image data URL must be base64", param: "messages")
        }
        let mediaType = String(url[url.index(url.startIndex, offsetBy: 5)..<comma].dropLast(7))
        return block(["type": .string("base64"), "media_type": .string(mediaType), "data": .string(String(url[url.index(after: comma)...]))])
    }
}
