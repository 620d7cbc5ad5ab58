import Logging
import Net
import Storage

/// One claimed attempt of a generation job, on its worker's loop: the model's stream through
/// the AI proxy's own path, its deltas written as events while the claim holds, then — keyed
/// by the job — the answer embedded and upserted into the collection as record
/// `generation-<id>` (a retry rewrites the same record), and the document version written in
/// the same unit as the job's completion (so a retried or stolen job never writes a second
/// version).
///
/// The claim is renewed every third of the lease. A heartbeat that finds the claim lost (the
/// lease ran out and another worker took the job) stops the call and writes nothing more; one
/// that finds a cancel asked for stops the call and marks the job cancelled. Failures that can
/// pass (upstream 5xx, 429, timeouts, a cut stream, a database that is away) are retried with
/// backoff by the queue; those that cannot (a 4xx, the key's token budget) fail the job at once.
final class GenerationRun {
    let job: Job
    let claim: String
    let context: JobContext
    let loop: EventLoop
    let finished: () -> Void

    var request: GenerationRequest?
    var caller: AICaller?
    var sink: GenerationSink?
    var heartbeat: ScheduledTask?
    var lost = false
    var cancelRequested = false
    var done = false
    /// Deltas not yet written, and whether a write is in flight (one at a time, in order).
    var pendingDelta = ""
    var flushing = false
    var flushTimer: ScheduledTask?
    var afterFlush: (() -> Void)?
    /// Set once the answer is whole: what is still pending goes into the completing unit
    /// (`pendingDeltaEvent`), not an insert of its own.
    var holdingForCompletion = false
    var outcome: ProxyCall.Outcome?

    /// Deltas are written at most this often (or once this many bytes wait), so a fast model
    /// costs a few inserts a second, not one per token.
    static let flushIntervalMs: UInt64 = 50
    static let flushBytes = 4096

    init(job: Job, claim: String, context: JobContext, loop: EventLoop, finished: @escaping () -> Void) {
        self.job = job
        self.claim = claim
        self.context = context
        self.loop = loop
        self.finished = finished
    }

    func start() {
        guard let (request, caller) = GenerationRequest.fromPayload(job.payload) else {
            return fail("the job's payload is not a generation request", retryable: false)
        }
        self.request = request
        self.caller = caller
        let ai: AIRequest
        do throws(OpenAIError) { ai = try AIRequest.parse(body: request.chatBody(), kind: .chat) } catch {
            return fail(error.message, retryable: false)
        }
        armHeartbeat()
        let sink = GenerationSink(loop: loop) { [self] delta in received(delta) }
        self.sink = sink
        context.proxy.run(ai, caller: caller, route: "/v1/generations", cacheHeader: nil, sink: sink) { [self] outcome in
            callEnded(outcome)
        }
    }

    // MARK: The claim

    func armHeartbeat() {
        heartbeat = loop.schedule(afterMilliseconds: max(100, context.settings.leaseMs / 3)) { [self] in
            guard !done else { return }
            context.store.heartbeatJob(id: job.id, claim: claim, on: loop) { [self] result in
                switch result {
                case .success(nil):
                    lost = true
                    sink?.stopped = true
                    context.logger.warning("job claim lost; another worker has it", metadata: ["job": .stringConvertible(job.id)])
                case .success(true?):
                    cancelRequested = true
                    sink?.stopped = true
                case .success(false?), .failure:
                    // A database that is away is retried at the next beat; the lease covers it.
                    break
                }
                if !done && !lost { armHeartbeat() }
            }
        }
    }

    // MARK: Deltas

    func received(_ delta: String) {
        guard !lost else { return }
        pendingDelta += delta
        if pendingDelta.utf8.count >= GenerationRun.flushBytes {
            flush()
        } else if flushTimer == nil {
            flushTimer = loop.schedule(afterMilliseconds: GenerationRun.flushIntervalMs) { [self] in
                flushTimer = nil
                flush()
            }
        }
    }

    func flush() {
        guard !flushing else { return }
        guard !pendingDelta.isEmpty, !lost, !holdingForCompletion else {
            if let next = afterFlush {
                afterFlush = nil
                next()
            }
            return
        }
        guard let event = pendingDeltaEvent() else { return }
        flushing = true
        context.store.appendJobEvents(id: job.id, claim: claim, [event], on: loop) { [self] result in
            flushing = false
            switch result {
            case .success(false):
                lost = true
                sink?.stopped = true
            case .success(true):
                break
            case .failure:
                // A delta event is progress, not the answer: the answer is stored whole at the end.
                break
            }
            flush()
        }
    }

    /// The deltas not yet written, as one event (nil when there are none); taken.
    func pendingDeltaEvent() -> (type: String, data: String)? {
        guard !pendingDelta.isEmpty else { return nil }
        let content = pendingDelta
        pendingDelta = ""
        var w = JSONWriter(capacity: content.utf8.count + 32)
        w.raw("{\"attempt\":"); w.number(job.attempts); w.raw(",\"content\":"); w.string(content); w.raw("}")
        return ("delta", String(decoding: w.bytes, as: UTF8.self))
    }

    /// Runs `next` once the write in flight (if any) is done, leaving the rest pending for
    /// the completing unit, so deltas stay in order and a short answer costs no insert of its own.
    func holdForCompletion(then next: @escaping () -> Void) {
        flushTimer?.cancel()
        flushTimer = nil
        holdingForCompletion = true
        afterFlush = next
        if !flushing { flush() }
    }

    /// Runs `next` once every delta received so far is written (or given up on).
    func flushAll(then next: @escaping () -> Void) {
        flushTimer?.cancel()
        flushTimer = nil
        afterFlush = next
        if !flushing { flush() }
    }

    // MARK: The end of the call

    func callEnded(_ outcome: ProxyCall.Outcome) {
        self.outcome = outcome
        guard let sink else { return }
        if lost { return end() }
        if cancelRequested {
            return persist({ [self] done in context.store.markJobCancelled(id: job.id, claim: claim, on: loop) { done($0.map { _ in () }) } },
                           then: { [self] in end() })
        }
        if outcome.status == 200, sink.streamCompleted {
            return holdForCompletion { [self] in answered(sink.text) }
        }
        let status = outcome.status
        let message = sink.errorMessage ?? "the model's answer ended at status \(status)"
        // The key's own token budget will not pass by waiting a few seconds of backoff; an
        // upstream's 429 will.
        let budget = sink.errorType == "tokens" && sink.errorCode == "rate_limit_exceeded"
        let retryable = !budget && (status == 0 || status == 200 || status == 408 || status == 409 || status == 429 || status >= 500)
        flushAll { [self] in fail("\(message) (status \(status))", retryable: retryable) }
    }

    /// The answer is whole: into the collection when one is named, then stored with the
    /// completion.
    func answered(_ text: String) {
        guard let request, let caller else { return }
        guard let collection = request.collection, let embedder = request.embeddingModel else { return complete(text, recordID: nil) }
        var body = JSONWriter(capacity: text.utf8.count + 64)
        body.raw("{\"model\":"); body.string(embedder); body.raw(",\"input\":"); body.string(text); body.raw("}")
        let embedding: AIRequest
        do throws(OpenAIError) { embedding = try AIRequest.parse(body: body.bytes, kind: .embeddings) } catch {
            return fail(error.message, retryable: false)
        }
        let embedSink = GenerationSink(loop: loop)
        context.proxy.run(embedding, caller: caller, route: "/v1/generations", cacheHeader: nil, sink: embedSink) { [self] outcome in
            guard !lost else { return end() }
            guard outcome.status == 200, let vector = GenerationRun.vector(embedSink.body) else {
                let status = outcome.status
                return fail("embedding the answer failed: \(embedSink.errorMessage ?? "no vector in the answer") (status \(status))",
                            retryable: status == 0 || status == 429 || status >= 500)
            }
            upsert(text, vector: vector, into: collection, tenantID: caller.tenantID)
        }
    }

    static func vector(_ body: [UInt8]) -> [Float]? {
        guard case .object(let o)? = try? JSONParser.parse(body), case .array(let data)? = o["data"],
              case .object(let first)? = data.first, case .array(let numbers)? = first["embedding"], !numbers.isEmpty else { return nil }
        var out: [Float] = []
        out.reserveCapacity(numbers.count)
        for case .number(let text) in numbers {
            guard let x = Float(text), x.isFinite else { return nil }
            out.append(x)
        }
        return out.count == numbers.count ? out : nil
    }

    func upsert(_ text: String, vector: [Float], into name: String, tenantID: String) {
        let store = context.store
        let recordID = "generation-\(job.id)"
        var metadata = JSONWriter(capacity: 64)
        metadata.raw("{\"generation_id\":"); metadata.number(Int(job.id))
        metadata.raw(",\"model\":"); metadata.string(request?.model ?? ""); metadata.raw("}")
        let record = RecordInput(id: recordID, vector: vector, metadata: String(decoding: metadata.bytes, as: UTF8.self), document: text)
        func write(_ collection: VectorCollection) {
            store.upsertRecords([record], into: collection, on: loop) { [self] result in
                switch result {
                case .success: complete(text, recordID: recordID)
                case .failure(let error): storeFailed(error, doing: "writing the collection record")
                }
            }
        }
        store.collection(tenantID: tenantID, name: name, on: loop) { [self] result in
            switch result {
            case .failure(let error): storeFailed(error, doing: "finding collection \(name)")
            case .success(var collection):
                guard collection.dimension == nil else { return write(collection) }
                store.fixDimension(vector.count, of: collection, on: loop) { [self] fixed in
                    switch fixed {
                    case .success(let dimension):
                        collection.dimension = dimension
                        write(collection)
                    case .failure(let error): storeFailed(error, doing: "fixing the collection's dimension")
                    }
                }
            }
        }
    }

    /// The document version and the completion, one unit (the document read first for what
    /// a new version keeps: its title, type and metadata).
    func complete(_ text: String, recordID: String?) {
        guard let request, let caller else { return }
        let result = GenerationJSON.Result(promptTokens: outcome?.promptTokens, completionTokens: outcome?.completionTokens,
                                           target: outcome?.target, recordID: recordID).json
        let store = context.store
        // Taken once: a retried completion writes the same events.
        let pendingEvents = pendingDeltaEvent().map { [$0] } ?? []
        func write(_ document: JobDocumentWrite) {
            persist({ [self] done in
                store.completeJob(id: job.id, claim: claim, result: result, document: document, tenantID: caller.tenantID,
                                  events: pendingEvents, on: loop) { [self] r in
                    switch r {
                    case .success((_, let written?)):
                        if let cache = context.documentCache { cache.stored(written, on: loop) { done(.success(())) } } else { done(.success(())) }
                    case .success: done(.success(()))
                    case .failure(let error): done(.failure(error))
                    }
                }
            }, then: { [self] in end() })
        }
        guard let documentID = request.documentID else {
            var metadata = JSONWriter(capacity: 64)
            metadata.raw("{\"generation_id\":"); metadata.number(Int(job.id))
            metadata.raw(",\"model\":"); metadata.string(request.model); metadata.raw("}")
            return write(JobDocumentWrite(documentID: nil, title: request.title ?? "Generation \(job.id)", body: text,
                                          metadata: String(decoding: metadata.bytes, as: UTF8.self)))
        }
        store.document(tenantID: caller.tenantID, id: documentID, on: loop) { [self] result in
            switch result {
            case .success(let d):
                write(JobDocumentWrite(documentID: d.id, title: request.title ?? d.title, body: text, contentType: d.contentType, metadata: d.metadata))
            case .failure(let error): storeFailed(error, doing: "reading document \(documentID)")
            }
        }
    }

    // MARK: Failing and ending

    func storeFailed(_ error: StoreError, doing what: String) {
        switch error {
        case .unavailable, .timeout, .internalError: fail("\(what): \(error)", retryable: true)
        case .notFound, .invalid, .conflict: fail("\(what): \(error)", retryable: false)
        }
    }

    func fail(_ message: String, retryable: Bool) {
        guard !lost else { return end() }
        let backoff = JobBackoff.milliseconds(attempt: job.attempts, baseMs: context.settings.retryBackoffMs)
        var w = JSONWriter(capacity: message.utf8.count + 64)
        w.raw("{\"attempt\":"); w.number(job.attempts); w.raw(",\"error\":"); w.string(message)
        w.raw(",\"retry_in_ms\":"); w.number(Int(backoff)); w.raw("}")
        let data = String(decoding: w.bytes, as: UTF8.self)
        if !retryable || job.attempts >= job.maxAttempts {
            context.logger.warning("generation job failed", metadata: ["job": .stringConvertible(job.id), "error": .string(message),
                                                                        "attempt": .stringConvertible(job.attempts)])
        }
        persist({ [self] done in
            context.store.failJob(id: job.id, claim: claim, error: message, retryable: retryable, retryAfterMilliseconds: backoff,
                                  retryingEventData: data, on: loop) { done($0.map { _ in () }) }
        }, then: { [self] in end() })
    }

    /// A final write, retried while the database is away and the claim may still hold; a
    /// `conflict` (the claim lost) or any other refusal ends it.
    func persist(_ write: @escaping (@escaping (Result<Void, StoreError>) -> Void) -> Void, then next: @escaping () -> Void, waitMs: UInt64 = 200) {
        write { [self] result in
            switch result {
            case .failure(.unavailable), .failure(.timeout):
                guard !lost else { return next() }
                _ = loop.schedule(afterMilliseconds: waitMs) { [self] in persist(write, then: next, waitMs: min(waitMs * 2, 5_000)) }
            case .failure(let error):
                if case .conflict = error { lost = true }
                else { context.logger.error("a job's final write failed", metadata: ["job": .stringConvertible(job.id), "error": .string("\(error)")]) }
                next()
            case .success:
                next()
            }
        }
    }

    /// A draining worker at its deadline: the call is stopped and the job handed back.
    func release() {
        guard !done else { return }
        lost = true
        sink?.stopped = true
        context.store.releaseJob(id: job.id, claim: claim, on: loop) { [self] _ in end() }
    }

    func end() {
        guard !done else { return }
        done = true
        heartbeat?.cancel()
        flushTimer?.cancel()
        finished()
    }
}

/// The wait before a failed job's next attempt: `base × 2^(attempt−1)`, capped at a minute,
/// with the upper half jittered so jobs that failed together (an upstream outage) do not all
/// come back in the same instant.
enum JobBackoff {
    static let ceilingMs: UInt64 = 60_000

    static func milliseconds(attempt: Int, baseMs: UInt64) -> Int64 {
        let exponent = UInt64(max(0, min(attempt - 1, 20)))
        let full = min(ceilingMs, baseMs.multipliedReportingOverflow(by: 1 << exponent).overflow ? ceilingMs : baseMs << exponent)
        let half = full / 2
        return Int64(half + (half == 0 ? 0 : Digests.randomUInt64() % (half + 1)))
    }
}
