import Net

/// What the proxy reads of a chat or embeddings request — the model, whether it streams, what
/// it may cost — and the body it sends upstream: the client's, member for member and in order
/// (unknown fields included), with only `model` replaced by the target's and, for a stream
/// the proxy needs usage of, `stream_options.include_usage` set.
struct AIRequest {
    enum Kind { case chat, embeddings }

    let kind: Kind
    let object: JSONObject
    let model: String
    let stream: Bool
    /// Whether the client itself asked for the final usage chunk of a stream.
    let clientAskedUsage: Bool
    /// Tokens reserved against the key's budget before the call: the prompt, estimated from
    /// its bytes, plus the completion's ceiling for every choice.
    let estimatedTokens: Int64

    /// Completion tokens reserved when the request names no ceiling.
    static let defaultCompletionReserve: Int64 = 1_024

    static func parse(_ request: HTTPRequest, kind: Kind) throws(OpenAIError) -> AIRequest {
        try parse(body: request.withBody { Array($0) }, kind: kind)
    }

    static func parse(body bytes: [UInt8], kind: Kind) throws(OpenAIError) -> AIRequest {
        let value: JSONValue
        do { value = try JSONParser.parse(bytes) } catch {
            throw .invalid("We could not parse the JSON body of your request: \(error.description)")
        }
        guard case .object(let object) = value else { throw .invalid("The request body must be a JSON object.") }
        guard case .string(let model)? = object["model"], !model.isEmpty else {
            throw .invalid("you must provide a model parameter", param: "model")
        }
        // Prompts are estimated at one token per three bytes: English runs near four, and an
        // overestimate only holds budget until the call settles with the reported usage.
        let promptEstimate = Int64(bytes.count / 3 + 1)
        switch kind {
        case .embeddings:
            switch object["input"] {
            case .string?, .array?: break
            default: throw .invalid("'input' is a required property and must be a string or an array", param: "input")
            }
            if case .array(let items)? = object["input"], items.isEmpty { throw .invalid("'input' must not be empty", param: "input") }
            if let format = object["encoding_format"], format != .string("float"), format != .string("base64"), format != .null {
                throw .invalid("'encoding_format' must be 'float' or 'base64'", param: "encoding_format")
            }
            return AIRequest(kind: kind, object: object, model: model, stream: false, clientAskedUsage: false, estimatedTokens: promptEstimate)
        case .chat:
            guard case .array(let messages)? = object["messages"], !messages.isEmpty else {
                throw .invalid("'messages' is a required property and must be a non-empty array", param: "messages")
            }
            var stream = false
            switch object["stream"] {
            case nil, .null?: break
            case .bool(let b)?: stream = b
            default: throw .invalid("'stream' must be a boolean", param: "stream")
            }
            var askedUsage = false
            switch object["stream_options"] {
            case nil, .null?: break
            case .object(let options)?:
                guard stream else { throw .invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.", param: "stream_options") }
                if case .bool(true)? = options["include_usage"] { askedUsage = true }
            default: throw .invalid("'stream_options' must be an object", param: "stream_options")
            }
            let completionCeiling = try positive(object, "max_completion_tokens")
            let legacyCeiling = try positive(object, "max_tokens")
            let ceiling = completionCeiling ?? legacyCeiling ?? defaultCompletionReserve
            let choices = try positive(object, "n") ?? 1
            guard choices <= 128 else { throw .invalid("'n' must be at most 128", param: "n") }
            return AIRequest(kind: kind, object: object, model: model, stream: stream, clientAskedUsage: askedUsage,
                             estimatedTokens: promptEstimate + ceiling * choices)
        }
    }

    static func positive(_ object: JSONObject, _ key: String) throws(OpenAIError) -> Int64? {
        switch object[key] {
        case nil, .null?: return nil
        case .number(let text)?:
            guard let n = Int64(text), n >= 1 else { throw .invalid("'\(key)' must be a positive integer", param: key) }
            return n
        default: throw .invalid("'\(key)' must be a positive integer", param: key)
        }
    }

    /// The body for `target`: the client's with the upstream model, and `include_usage` when
    /// the proxy needs a stream's usage and the provider accepts the field.
    func upstreamBody(model upstreamModel: String, injectUsage: Bool) -> [UInt8] {
        var w = JSONWriter(capacity: 256)
        w.raw("{")
        var first = true
        func member(_ key: String) {
            if !first { w.raw(",") }
            first = false
            w.string(key)
            w.raw(":")
        }
        var wroteOptions = false
        for key in object.keys {
            member(key)
            switch key {
            case "model": w.string(upstreamModel)
            case "stream_options" where injectUsage:
                var options = JSONObject()
                if case .object(let given)? = object[key] { options = given }
                w.raw("{")
                var firstOption = true
                for k in options.keys where k != "include_usage" {
                    if !firstOption { w.raw(",") }
                    firstOption = false
                    w.string(k); w.raw(":"); JSONValueWriter.write(options[k]!, into: &w)
                }
                if !firstOption { w.raw(",") }
                w.raw("\"include_usage\":true}")
                wroteOptions = true
            default: JSONValueWriter.write(object[key]!, into: &w)
            }
        }
        if injectUsage && !wroteOptions {
            member("stream_options")
            w.raw("{\"include_usage\":true}")
        }
        w.raw("}")
        return w.bytes
    }
}
