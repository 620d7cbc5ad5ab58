import Net
import Storage

/// Generation jobs: `POST /v1/generations` queues a writing task (202 with the job and its
/// `Location`; the same `Idempotency-Key` within 24 hours returns the same job), `GET
/// /v1/generations/{id}` and `GET /v1/generations` (newest first, keyset pages, `?status=`)
/// read them, `POST …/{id}/cancel` stops one (a running call is aborted upstream), and `GET
/// …/{id}/events` streams its life as Server-Sent Events, resumable with `Last-Event-ID`
/// (`GenerationEvents`).
///
/// The workers (`Workers/`) run in every `serve` process unless `jobs-workers` is 0, and alone
/// in `aiwriter worker` processes (`JobWorkerProcess`); every process shares the one queue in
/// the database. Readers read, writers submit and cancel; another tenant's job is 404.
///
/// Scheduled jobs (`Schedules/`, the `schedules` key) run in every process too, each slot in
/// only one of them.
enum JobsFeature: GatewayFeature {
    static func register(on router: RouterBuilder, services: GatewayServices) {
        let store = services.store
        let settings = services.configuration.jobs
        let models = services.aiModels
        if settings.workers > 0 {
            let workers = makeWorkers(services)
            services.lifecycle.onStart { group in workers.start(on: group) }
            services.lifecycle.onDrain({ finished in workers.drain(finished) }, atDeadline: { workers.releaseAll() })
        }
        services.lifecycle.onStart { group in
            guard let scheduler = makeScheduler(services, holdsIndexes: true, on: group.loops[0]) else { return }
            services.lifecycle.onDrain({ finished in scheduler.drain(finished) }, atDeadline: {})
            scheduler.start()
        }

        router.post("/v1/generations", .role(.writer)) { context in
            let request: GenerationRequest
            do throws(GatewayError) {
                guard context.request.bodyCount <= settings.maximumRequestBytes else {
                    throw GatewayError(.payloadTooLarge, "request_too_large",
                                       "a generation request is at most \(settings.maximumRequestBytes) bytes; this one is \(context.request.bodyCount)")
                }
                request = try parse(context, models: models, settings: settings)
            } catch { return context.send(error) }
            let caller = AICaller(context.caller)
            checkReferences(request, tenantID: caller.tenantID, store: store, on: context.loop) { problem in
                if let problem { return context.send(problem) }
                let hash = request.hash
                store.enqueueJob(tenantID: caller.tenantID, kind: JobContext.generationKind, payload: request.payload(caller: caller),
                                 maxAttempts: settings.maxAttempts, idempotencyKey: request.idempotencyKey, requestHash: hash,
                                 maximumPayloadBytes: settings.maximumRequestBytes + 4096, on: context.loop) { result in
                    switch result {
                    case .failure(let error): context.send(error)
                    case .success((let job, let created)):
                        if !created, job.requestHash != hash {
                            return context.send(GatewayError(.unprocessableContent, "idempotency_key_reused",
                                                             "idempotency key '\(request.idempotencyKey ?? "")' was used for a different request (job \(job.id))"))
                        }
                        var headers = [("Location", "/v1/generations/\(job.id)")]
                        if !created { headers.append(("Idempotent-Replayed", "true")) }
                        context.sendJSON(status: .accepted, GenerationJSON.bytes(job), headers: headers)
                    }
                }
            }
        }

        router.get("/v1/generations", .role(.reader)) { context in
            let request = context.request
            let state: Job.State?
            let limit: Int
            let before: Int64?
            let scope = "generations\u{0}\(request.query("status") ?? "")"
            let store: Store
            do throws(GatewayError) {
                limit = try Listing.limit(request)
                if let text = request.query("status") {
                    guard let s = Job.State(rawValue: text) else {
                        throw .badRequest("status must be one of \(Job.State.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    state = s
                } else {
                    state = nil
                }
                before = try request.query("cursor").map { (c) throws(GatewayError) in try PageCursor.decode(c, scope: scope) }
                store = try context.reading(services.store)
            } catch { return context.send(error) }
            store.jobs(tenantID: context.caller.tenantID, kind: JobContext.generationKind, state: state, before: before, limit: limit,
                       on: context.loop) { result in
                switch result {
                case .failure(let error): context.send(error)
                case .success(let page):
                    Listing.send("generations", page.items, next: page.next.map { PageCursor.encode($0, scope: scope) }, context,
                                 GenerationJSON.write)
                }
            }
        }

        router.get("/v1/generations/:id", .role(.reader)) { context in
            let id: Int64
            let store: Store
            do throws(GatewayError) {
                id = try jobID(context)
                store = try context.reading(services.store)
            } catch { return context.send(error) }
            store.job(tenantID: context.caller.tenantID, id: id, on: context.loop) { result in
                switch result {
                case .success(let job) where job.kind == JobContext.generationKind: context.sendJSON(GenerationJSON.bytes(job))
                case .success: context.send(GatewayError.notFound("no such generation"))
                case .failure(let error): context.send(error)
                }
            }
        }

        router.post("/v1/generations/:id/cancel", .role(.writer)) { context in
            let id: Int64
            do throws(GatewayError) { id = try jobID(context) } catch { return context.send(error) }
            store.cancelJob(tenantID: context.caller.tenantID, id: id, on: context.loop) { result in
                switch result {
                case .success(let job): context.sendJSON(GenerationJSON.bytes(job))
                case .failure(let error): context.send(error)
                }
            }
        }

        router.get("/v1/generations/:id/events", .role(.reader)) { context in
            let id: Int64
            let after: Int64
            do throws(GatewayError) {
                id = try jobID(context)
                after = try lastEventID(context)
            } catch { return context.send(error) }
            GenerationEvents(context: context, store: store, jobID: id, after: after, lifecycle: services.lifecycle).start()
        }
    }

    static func makeWorkers(_ services: GatewayServices) -> JobWorkers {
        JobWorkers(context: JobContext(store: services.store, proxy: services.aiProxy, settings: services.configuration.jobs,
                                       documentCache: services.documentCache, logger: services.logger),
                   slots: services.configuration.jobs.workers)
    }

    /// The process's scheduled jobs (`Schedules/`), on `loop`; nil when none can run here.
    static func makeScheduler(_ services: GatewayServices, holdsIndexes: Bool, on loop: EventLoop) -> ScheduleRunner? {
        let settings = services.configuration.jobs
        let work = ScheduledWork(store: services.store, storage: services.configuration.storage,
                                 collections: holdsIndexes ? services.collections : nil, jobLeaseMs: settings.leaseMs)
        let schedules = settings.schedules.filter { work.canRun($0.task) }
        guard !schedules.isEmpty else { return nil }
        return ScheduleRunner(schedules: schedules, work: work, store: services.store, leaseMs: settings.leaseMs,
                              logger: services.logger, loop: loop)
    }

    static func parse(_ context: RequestContext, models: ModelTable, settings: JobsConfiguration) throws(GatewayError) -> GenerationRequest {
        let object = try DocumentJSON.object(context.request)
        var request = try GenerationRequest.parse(object, models: models, defaultEmbeddingModel: settings.embeddingModel)
        if let header = context.request.header("Idempotency-Key") {
            guard !header.isEmpty, header.utf8.count <= 255 else { throw .badRequest("Idempotency-Key must be 1–255 bytes") }
            if let field = request.idempotencyKey, field != header {
                throw .badRequest("the Idempotency-Key header and the idempotency_key field differ")
            }
            request.idempotencyKey = header
        }
        return request
    }

    /// The document and the collection a job names must be the tenant's now, so a job that
    /// could never store its answer is refused at submission.
    static func checkReferences(_ request: GenerationRequest, tenantID: String, store: Store, on loop: EventLoop,
                                _ done: @escaping (GatewayError?) -> Void) {
        func checkCollection() {
            guard let name = request.collection else { return done(nil) }
            store.collection(tenantID: tenantID, name: name, on: loop) { result in
                switch result {
                case .success: done(nil)
                case .failure(.notFound): done(GatewayError(.notFound, "collection_not_found", "no collection named '\(name)'"))
                case .failure(let error): done(GatewayError(error))
                }
            }
        }
        guard let documentID = request.documentID else { return checkCollection() }
        store.document(tenantID: tenantID, id: documentID, on: loop) { result in
            switch result {
            case .success: checkCollection()
            case .failure(.notFound): done(GatewayError(.notFound, "document_not_found", "no document \(documentID)"))
            case .failure(let error): done(GatewayError(error))
            }
        }
    }

    static func jobID(_ context: RequestContext) throws(GatewayError) -> Int64 {
        guard let text = context.parameter("id"), let id = Int64(text), id > 0 else { throw .notFound("no such generation") }
        return id
    }

    static func lastEventID(_ context: RequestContext) throws(GatewayError) -> Int64 {
        guard let text = context.request.header("Last-Event-ID"), !text.isEmpty else { return 0 }
        guard let id = Int64(text), id >= 0 else { throw .badRequest("Last-Event-ID must be an event id this stream gave out") }
        return id
    }
}
