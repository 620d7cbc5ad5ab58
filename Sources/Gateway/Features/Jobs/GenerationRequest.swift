import Net
import Storage

/// A generation job's request: what `POST /v1/generations` accepts, checked whole before
/// anything is queued, so a request that could never run is a 4xx at submission, not a failed
/// job later — an unknown model, messages of the wrong shape, parameters the job decides
/// itself, an unknown field. (That the document and the collection exist for the tenant is
/// checked against the Store by the route.)
///
/// It is kept as the job's payload (JSON), with the key it was submitted under, so a worker in
/// any process makes the same call: the model's stream, with usage.
struct GenerationRequest: Equatable {
    var model: String
    /// The chat messages, as the client sent them (`prompt` is one user message).
    var messages: [JSONValue]
    /// Chat parameters passed on as they are (`temperature`, `max_tokens`, `tools` …).
    var params: JSONObject
    var documentID: Int64?
    var collection: String?
    var embeddingModel: String?
    var title: String?
    var idempotencyKey: String?

    static let fields: Set<String> = ["model", "messages", "prompt", "params", "document_id", "collection", "embedding_model", "title",
                                      "idempotency_key"]
    /// What the job itself decides: one streamed answer, on the job's model.
    static let reservedParams: Set<String> = ["model", "messages", "stream", "stream_options", "n"]
    static let roles: Set<String> = ["system", "developer", "user", "assistant", "tool", "function"]

    static func parse(_ object: JSONObject, models: ModelTable, defaultEmbeddingModel: String) throws(GatewayError) -> GenerationRequest {
        for key in object.keys where !fields.contains(key) {
            throw .badRequest("unknown field '\(key)'; allowed: \(fields.sorted().joined(separator: ", "))")
        }
        guard case .string(let model)? = object["model"], !model.isEmpty else { throw .badRequest("'model' is required and must be a string") }
        guard models.models[model] != nil else {
            throw GatewayError(.notFound, "model_not_found", "the model '\(model)' does not exist (GET /v1/models lists them)")
        }
        var messages: [JSONValue]
        switch (object["messages"], object["prompt"]) {
        case (.some, .some): throw .badRequest("give 'messages' or 'prompt', not both")
        case (.array(let given)?, nil):
            guard !given.isEmpty else { throw .badRequest("'messages' must not be empty") }
            for (i, message) in given.enumerated() { try check(message, at: i) }
            messages = given
        case (let other?, nil): throw .badRequest("'messages' must be an array of messages, not \(other.kindDescription)")
        case (nil, .string(let prompt)?):
            guard !prompt.isEmpty else { throw .badRequest("'prompt' must not be empty") }
            var message = JSONObject()
            message.set("role", .string("user"))
            message.set("content", .string(prompt))
            messages = [.object(message)]
        case (nil, let other?): throw .badRequest("'prompt' must be a string, not \(other.kindDescription)")
        case (nil, nil): throw .badRequest("'messages' or 'prompt' is required")
        }
        var params = JSONObject()
        switch object["params"] {
        case nil, .null?: break
        case .object(let given)?:
            for key in given.keys where reservedParams.contains(key) {
                throw .badRequest("'params.\(key)' is decided by the job (one streamed answer on the job's model)")
            }
            params = given
        case let other?: throw .badRequest("'params' must be an object, not \(other.kindDescription)")
        }
        var request = GenerationRequest(model: model, messages: messages, params: params)
        switch object["document_id"] {
        case nil, .null?: break
        case .number(let text)?:
            guard let id = Int64(text), id > 0 else { throw .badRequest("'document_id' must be a positive integer") }
            request.documentID = id
        case let other?: throw .badRequest("'document_id' must be a positive integer, not \(other.kindDescription)")
        }
        request.collection = try text(object, "collection", maximumBytes: 512)
        request.embeddingModel = try text(object, "embedding_model", maximumBytes: 512)
        request.title = try text(object, "title", maximumBytes: 1024)
        request.idempotencyKey = try text(object, "idempotency_key", maximumBytes: 255)
        if request.collection != nil {
            let embedder = request.embeddingModel ?? defaultEmbeddingModel
            guard !embedder.isEmpty else {
                throw .badRequest("a job with a collection needs 'embedding_model' (or the jobs-embedding-model setting)")
            }
            guard models.models[embedder] != nil else {
                throw GatewayError(.notFound, "model_not_found", "the embedding model '\(embedder)' does not exist")
            }
            request.embeddingModel = embedder
        } else if request.embeddingModel != nil {
            throw .badRequest("'embedding_model' needs a 'collection' to embed into")
        }
        // The chat body the proxy would take: its own checks (max_tokens, tools' shapes it
        // knows) apply now, not when the job runs.
        do throws(OpenAIError) { _ = try AIRequest.parse(body: request.chatBody(), kind: .chat) } catch {
            throw .badRequest(error.message)
        }
        return request
    }

    static func check(_ message: JSONValue, at i: Int) throws(GatewayError) {
        guard case .object(let m) = message else { throw .badRequest("'messages[\(i)]' must be an object with a role and content") }
        guard case .string(let role)? = m["role"] else { throw .badRequest("'messages[\(i)].role' is required and must be a string") }
        guard roles.contains(role) else {
            throw .badRequest("'messages[\(i)].role' must be one of \(roles.sorted().joined(separator: ", "))")
        }
        switch m["content"] {
        case .string?, .array?: break
        case nil, .null?:
            // Only an assistant's tool calls stand without content.
            guard role == "assistant", m["tool_calls"] != nil else { throw .badRequest("'messages[\(i)].content' is required") }
        case let other?: throw .badRequest("'messages[\(i)].content' must be a string or an array of parts, not \(other.kindDescription)")
        }
    }

    static func text(_ object: JSONObject, _ key: String, maximumBytes: Int) throws(GatewayError) -> String? {
        switch object[key] {
        case nil, .null?: return nil
        case .string(let s)?:
            guard !s.isEmpty, s.utf8.count <= maximumBytes else { throw .badRequest("'\(key)' must be 1–\(maximumBytes) bytes") }
            guard !s.utf8.contains(where: { $0 < 0x20 && key != "title" }), !s.utf8.contains(0) else {
                throw .badRequest("'\(key)' must not contain control characters")
            }
            return s
        case let other?: throw .badRequest("'\(key)' must be a string, not \(other.kindDescription)")
        }
    }

    /// The upstream call: the parameters, then the model, the messages and a stream with usage.
    func chatBody() -> [UInt8] {
        var w = JSONWriter(capacity: 256)
        w.raw("{\"model\":"); w.string(model)
        w.raw(",\"messages\":"); JSONValueWriter.write(.array(messages), into: &w)
        for key in params.keys {
            w.raw(","); w.string(key); w.raw(":"); JSONValueWriter.write(params[key]!, into: &w)
        }
        w.raw(",\"stream\":true,\"stream_options\":{\"include_usage\":true}}")
        return w.bytes
    }

    /// The job's payload: the request and who submitted it.
    func payload(caller: AICaller) -> String {
        var w = JSONWriter(capacity: 512)
        w.raw("{\"request\":"); writeRequest(into: &w)
        w.raw(",\"tenant_id\":"); w.string(caller.tenantID)
        w.raw(",\"key_id\":"); w.string(caller.keyID)
        w.raw(",\"tokens_per_minute\":")
        if let tpm = caller.tokensPerMinute { w.number(Int(tpm)) } else { w.raw("null") }
        w.raw("}")
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// What tells a retried submission from a different one under the same idempotency key.
    var hash: String {
        var w = JSONWriter(capacity: 512)
        writeRequest(into: &w)
        return Digests.hex(w.bytes.withUnsafeBytes { Digests.sha256($0) })
    }

    func writeRequest(into w: inout JSONWriter) {
        w.raw("{\"model\":"); w.string(model)
        w.raw(",\"messages\":"); JSONValueWriter.write(.array(messages), into: &w)
        w.raw(",\"params\":"); JSONValueWriter.write(.object(params), into: &w)
        func optional(_ key: StaticString, _ value: String?) {
            w.raw(","); w.raw("\""); w.raw(key); w.raw("\":")
            if let value { w.string(value) } else { w.raw("null") }
        }
        w.raw(",\"document_id\":")
        if let documentID { w.number(Int(documentID)) } else { w.raw("null") }
        optional("collection", collection)
        optional("embedding_model", embeddingModel)
        optional("title", title)
        w.raw("}")
    }

    /// A payload back, as a worker reads it; nil when it is not one (written by something
    /// else: the job fails for good).
    static func fromPayload(_ text: String) -> (GenerationRequest, AICaller)? {
        guard let value = try? JSONParser.parse(Array(text.utf8)), case .object(let o) = value,
              case .object(let r)? = o["request"], case .string(let tenant)? = o["tenant_id"], case .string(let key)? = o["key_id"],
              case .string(let model)? = r["model"], case .array(let messages)? = r["messages"], case .object(let params)? = r["params"]
        else { return nil }
        var tokensPerMinute: Int64?
        if case .number(let n)? = o["tokens_per_minute"] { tokensPerMinute = Int64(n) }
        var request = GenerationRequest(model: model, messages: messages, params: params)
        if case .number(let n)? = r["document_id"] { request.documentID = Int64(n) }
        if case .string(let s)? = r["collection"] { request.collection = s }
        if case .string(let s)? = r["embedding_model"] { request.embeddingModel = s }
        if case .string(let s)? = r["title"] { request.title = s }
        return (request, AICaller(tenantID: tenant, keyID: key, tokensPerMinute: tokensPerMinute))
    }
}
