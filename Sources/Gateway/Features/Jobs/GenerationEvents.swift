import Net
import Storage

/// `GET /v1/generations/{id}/events`: a job's life as Server-Sent Events — `queued`,
/// `started` (per attempt), `delta` (the model's text as it streams, a few per second),
/// `retrying`, then `stored` and `done`, or `failed`, or `cancelled` — from whichever process
/// runs the job, since every event is a row the worker wrote while its claim held.
///
/// Each stored event carries its row id as the SSE `id`, so a client that reconnects with
/// `Last-Event-ID` gets exactly the events after it: nothing missed, nothing twice. The end is
/// said from the job's row (read in the same unit as the events, so it never overtakes an
/// event before it) and carries no id: a reconnect after it is told again. A delta's
/// `attempt` says which attempt it belongs to; a `started` with a higher attempt means the
/// text starts over.
///
/// The stream polls the database (every 100 ms while the job runs), sends a comment every
/// 15 s so proxies keep the connection, and ends when the server drains (the client resumes
/// on another replica). Loop-owned.
final class GenerationEvents {
    let context: RequestContext
    let store: Store
    let jobID: Int64
    var after: Int64
    let lifecycle: GatewayLifecycle
    var started = false
    var lastWriteMs: UInt64 = 0

    static let pageSize = 500
    static let pollMs: UInt64 = 100
    static let keepaliveMs: UInt64 = 15_000

    init(context: RequestContext, store: Store, jobID: Int64, after: Int64, lifecycle: GatewayLifecycle) {
        self.context = context
        self.store = store
        self.jobID = jobID
        self.after = after
        self.lifecycle = lifecycle
    }

    var loop: EventLoop { context.loop }

    func start() { poll() }

    func poll() {
        store.jobEvents(tenantID: context.caller.tenantID, id: jobID, after: after, limit: GenerationEvents.pageSize, on: loop) { [self] result in
            switch result {
            case .failure(let error):
                guard started else { return context.send(error) }
                // The database is away: the stream waits for it (the client sees keepalives).
                again(afterMs: 1_000)
            case .success((let events, let job)):
                guard job.kind == JobContext.generationKind else { return context.send(GatewayError.notFound("no such generation")) }
                deliver(events, job)
            }
        }
    }

    func deliver(_ events: [JobEvent], _ job: Job) {
        if !started {
            started = true
            context.startStream(status: .ok, contentType: "text/event-stream; charset=utf-8",
                                headers: [("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no")])
            write("retry: 1000\n\n")
        }
        guard context.responder.isPending else { return }
        for event in events {
            var text = "id: \(event.id)\nevent: \(event.type)\ndata: "
            text += event.data
            text += "\n\n"
            write(text)
            after = event.id
        }
        if events.count == GenerationEvents.pageSize { return poll() }
        if job.state.isFinal { return finish(job) }
        if lifecycle.isDraining { return context.responder.finishStream() }
        if loop.nowMilliseconds &- lastWriteMs >= GenerationEvents.keepaliveMs { write(": keepalive\n\n") }
        again(afterMs: GenerationEvents.pollMs)
    }

    func again(afterMs ms: UInt64) {
        guard context.responder.isPending, !loop.isStopping else { return }
        _ = loop.schedule(afterMilliseconds: ms) { [self] in poll() }
    }

    /// The job's end, from its row: `stored` (the document version and record) and `done`,
    /// or `failed`, or `cancelled`, each with the job as `GET /v1/generations/{id}` shows it.
    func finish(_ job: Job) {
        let body = String(decoding: GenerationJSON.bytes(job).dropLast(), as: UTF8.self)
        switch job.state {
        case .succeeded:
            var w = JSONWriter(capacity: 96)
            w.raw("{\"document_id\":")
            if let id = job.documentID { w.number(Int(id)) } else { w.raw("null") }
            w.raw(",\"document_version\":")
            if let v = job.documentVersion { w.number(Int(v)) } else { w.raw("null") }
            w.raw("}")
            write("event: stored\ndata: " + String(decoding: w.bytes, as: UTF8.self) + "\n\n")
            write("event: done\ndata: " + body + "\n\n")
        case .failed: write("event: failed\ndata: " + body + "\n\n")
        case .cancelled: write("event: cancelled\ndata: " + body + "\n\n")
        case .queued, .running: return
        }
        context.responder.finishStream()
    }

    func write(_ text: String) {
        lastWriteMs = loop.nowMilliseconds
        context.responder.writeChunk(text)
    }
}
