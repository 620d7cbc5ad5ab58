import Net
import Storage

/// Generation jobs as the API shows them, and the job's result as a worker stores it.
enum GenerationJSON {
    /// What a succeeded job keeps beside its document version.
    struct Result {
        var promptTokens: Int64?
        var completionTokens: Int64?
        var target: String?
        var recordID: String?

        var json: String {
            var w = JSONWriter(capacity: 128)
            w.raw("{\"usage\":")
            if promptTokens != nil || completionTokens != nil {
                let p = Int(promptTokens ?? 0), c = Int(completionTokens ?? 0)
                w.raw("{\"prompt_tokens\":"); w.number(p)
                w.raw(",\"completion_tokens\":"); w.number(c)
                w.raw(",\"total_tokens\":"); w.number(p + c); w.raw("}")
            } else {
                w.raw("null")
            }
            w.raw(",\"target\":")
            if let target { w.string(target) } else { w.raw("null") }
            w.raw(",\"record_id\":")
            if let recordID { w.string(recordID) } else { w.raw("null") }
            w.raw("}")
            return String(decoding: w.bytes, as: UTF8.self)
        }
    }

    static func write(_ job: Job, into w: inout JSONWriter) {
        let request = GenerationRequest.fromPayload(job.payload)?.0
        w.raw("{\"id\":"); w.number(Int(job.id))
        w.raw(",\"object\":\"generation\",\"status\":"); w.string(job.state.rawValue)
        w.raw(",\"model\":")
        if let model = request?.model { w.string(model) } else { w.raw("null") }
        w.raw(",\"attempts\":"); w.number(job.attempts)
        w.raw(",\"max_attempts\":"); w.number(job.maxAttempts)
        w.raw(",\"created_at\":"); w.number(Int(job.createdAt))
        w.raw(",\"updated_at\":"); w.number(Int(job.updatedAt))
        w.raw(",\"run_after\":"); w.number(Int(job.runAfter))
        w.raw(",\"cancel_requested\":"); w.bool(job.cancelRequested)
        w.raw(",\"idempotency_key\":")
        if let key = job.idempotencyKey { w.string(key) } else { w.raw("null") }
        w.raw(",\"document_id\":")
        if let id = job.documentID ?? request?.documentID { w.number(Int(id)) } else { w.raw("null") }
        w.raw(",\"document_version\":")
        if let v = job.documentVersion { w.number(Int(v)) } else { w.raw("null") }
        w.raw(",\"collection\":")
        if let c = request?.collection { w.string(c) } else { w.raw("null") }
        var result: JSONObject?
        if let text = job.result, case .object(let o)? = try? JSONParser.parse(Array(text.utf8)) { result = o }
        for key in ["record_id", "usage", "target"] {
            w.raw(","); w.string(key); w.raw(":")
            JSONValueWriter.write(result?[key] ?? .null, into: &w)
        }
        w.raw(",\"error\":")
        if let error = job.error, job.state != .succeeded { w.string(error) } else { w.raw("null") }
        w.raw("}")
    }

    static func bytes(_ job: Job) -> [UInt8] {
        var w = JSONWriter(capacity: 512)
        write(job, into: &w)
        w.raw("\n")
        return w.bytes
    }
}
