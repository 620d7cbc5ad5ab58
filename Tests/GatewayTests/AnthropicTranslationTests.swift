import Net
import Testing
@testable import Gateway

/// OpenAI chat ↔ Anthropic Messages, without a socket: the request rewrite, a whole answer,
/// a stream event by event, and errors. End to end with the `openai` client in
/// Tests/python/openai_client_test.py.
@Suite("Anthropic translation")
struct AnthropicTranslationTests {
    func request(_ body: String) throws -> AIRequest { try AIRequest.parse(body: Array(body.utf8), kind: .chat) }

    func json(_ bytes: [UInt8]) throws -> JSONObject {
        guard case .object(let o) = try JSONParser.parse(bytes) else { throw OpenAIError.invalid("not an object") }
        return o
    }

    @Test func systemMessagesMoveUpAndRolesAlternate() throws {
        let r = try request(#"{"model":"w","messages":[{"role":"system","content":"A"},{"role":"developer","content":[{"type":"text","text":"B"}]},{"role":"user","content":"one"},{"role":"user","content":[{"type":"text","text":"two"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}],"max_completion_tokens":7,"frequency_penalty":1,"seed":3}"#)
        let body = try json(AnthropicRequest.body(r, model: "claude-x"))
        #expect(body["system"] == .string("A\n\nB"))
        #expect(body["max_tokens"] == .number("7"))
        #expect(body["frequency_penalty"] == nil && body["seed"] == nil, "fields Anthropic lacks are dropped")
        guard case .array(let messages)? = body["messages"], messages.count == 1, case .object(let user) = messages[0],
              case .array(let blocks)? = user["content"] else { Issue.record("\(body)"); return }
        #expect(blocks.count == 3, "consecutive user messages merge")
        guard case .object(let image) = blocks[2], case .object(let source)? = image["source"] else { Issue.record("\(blocks)"); return }
        #expect(source["type"] == .string("base64") && source["media_type"] == .string("image/png") && source["data"] == .string("AAAA"))
    }

    @Test func aDefaultCeilingWhenNoneIsGiven() throws {
        let body = try json(AnthropicRequest.body(try request(#"{"model":"w","messages":[{"role":"user","content":"x"}]}"#), model: "m"))
        #expect(body["max_tokens"] == .number(String(AnthropicRequest.defaultMaxTokens)))
    }

    @Test("what Anthropic cannot take is 400 naming the field", arguments: [
        (#"{"model":"w","messages":[{"role":"user","content":"x"}],"n":2}"#, "n"),
        (#"{"model":"w","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"}}"#, "response_format"),
        (#"{"model":"w","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}"#, "messages"),
        (#"{"model":"w","messages":[{"role":"assistant","tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"[1"}}]}]}"#, "messages"),
        (#"{"model":"w","messages":[{"role":"tool","content":"x"}]}"#, "messages"),
        (#"{"model":"w","messages":[{"role":"wizard","content":"x"}]}"#, "messages"),
    ])
    func untranslatable(_ body: String, _ param: String) throws {
        let r = try request(body)
        do {
            _ = try AnthropicRequest.body(r, model: "m")
            Issue.record("accepted \(body)")
        } catch {
            #expect(error.status == .badRequest && error.param == param)
        }
    }

    @Test func aWholeAnswerBecomesAChatCompletion() throws {
        let answer = #"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"thinking","thinking":"hm"},{"type":"text","text":"Hi"},{"type":"tool_use","id":"t1","name":"f","input":{"a":1}}],"stop_reason":"tool_use","usage":{"input_tokens":10,"output_tokens":4,"cache_read_input_tokens":3,"cache_creation_input_tokens":2}}"#
        let c = try json(#require(AnthropicAnswer.completion(Array(answer.utf8), created: 5)))
        #expect(c["object"] == .string("chat.completion") && c["id"] == .string("chatcmpl-msg_1"))
        guard case .array(let choices)? = c["choices"], case .object(let choice) = choices[0], case .object(let message)? = choice["message"],
              case .array(let calls)? = message["tool_calls"], case .object(let call) = calls[0], case .object(let f)? = call["function"],
              case .object(let usage)? = c["usage"] else { Issue.record("\(c)"); return }
        #expect(message["content"] == .string("Hi") && choice["finish_reason"] == .string("tool_calls"))
        #expect(f["arguments"] == .string(#"{"a":1}"#))
        #expect(usage["prompt_tokens"] == .number("15") && usage["completion_tokens"] == .number("4") && usage["total_tokens"] == .number("19"))
        #expect(AnthropicAnswer.completion(Array("[]".utf8), created: 0) == nil)
    }

    @Test func aStreamBecomesChunksThenUsageThenDone() throws {
        var stream = AnthropicAnswer.Stream(created: 1)
        let events = [
            #"{"type":"message_start","message":{"id":"msg_s","model":"claude-x","usage":{"input_tokens":9,"output_tokens":1}}}"#,
            #"{"type":"ping"}"#,
            #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"He\"llo"}}"#,
            #"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t1","name":"f","input":{}}}"#,
            #"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}"#,
            #"{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":6}}"#,
            #"{"type":"message_stop"}"#,
        ]
        var out: [String] = []
        for e in events { out += stream.translate(Array(e.utf8)).map { String(decoding: $0, as: UTF8.self) } }
        #expect(out.count == 7)
        #expect(out[0].contains(#""delta":{"role":"assistant","content":""}"#) && out[0].contains(#""id":"chatcmpl-msg_s""#))
        #expect(out[1].contains(#""delta":{"content":"He\"llo"}"#))
        #expect(out[2].contains(#""tool_calls":[{"index":0,"id":"t1","type":"function","function":{"name":"f","arguments":""}}]"#))
        #expect(out[3].contains(#""function":{"arguments":"{\"a\":"}"#))
        #expect(out[4].contains(#""finish_reason":"length""#))
        #expect(out[5].contains(#""choices":[],"usage":{"prompt_tokens":9,"completion_tokens":6,"total_tokens":15"#))
        #expect(out[6] == "data: [DONE]\n\n")
        #expect(out.allSatisfy { $0.hasPrefix("data: ") && $0.hasSuffix("\n\n") })
        #expect(!stream.failed)
        _ = stream.translate(Array(#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#.utf8))
        #expect(stream.failed)
        #expect(stream.translate(Array("not json".utf8)).isEmpty)
    }

    @Test func errorsKeepTheirTypeAnd529Becomes503() {
        let e = AnthropicAnswer.error(Array(#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#.utf8), status: 529)
        #expect(e.status.rawValue == 503 && e.type == "overloaded_error" && e.message == "Overloaded")
        let raw = AnthropicAnswer.error(Array("upstream exploded".utf8), status: 500)
        #expect(raw.status.rawValue == 500 && raw.message == "upstream exploded" && raw.type == "api_error")
    }
}
