import Logging
import Net
import Storage

/// OpenAI-compatible AI routes behind our keys: `POST /v1/chat/completions` (streamed or not),
/// `POST /v1/embeddings`, `GET /v1/models` and `GET /v1/models/{id}`, each model name sent on
/// to its configured targets in order (`ProxyCall`: fallbacks, retries, circuit breakers,
/// honest streams) over libcurl on the request's own loop (`UpstreamClient.CurlMulti`), with
/// the key's `tokens_per_minute` reserved before the call and settled with the usage after, a
/// usage row per call (`GET /v1/usage`: `UsageRoutes`), and the exact and semantic caches in
/// front.
/// Errors are OpenAI's shape (`OpenAIError`), so the `openai` client raises its own classes.
enum AIProxyFeature: GatewayFeature {
    static func register(on router: RouterBuilder, services: GatewayServices) {
        let proxy = services.aiProxy
        for prefix in ["/v1/chat/", "/v1/embeddings", "/v1/models"] {
            router.errors(under: prefix) { OpenAIError($0) }
        }
        router.post("/v1/chat/completions", .role(.reader)) { proxy.call($0, .chat) }
        router.post("/v1/embeddings", .role(.reader)) { proxy.call($0, .embeddings) }
        let table = services.aiModels
        router.get("/v1/models", .role(.reader)) { context in
            var w = JSONWriter()
            w.raw("{\"object\":\"list\",\"data\":[")
            for (i, name) in table.names.enumerated() {
                if i > 0 { w.raw(",") }
                model(name, table, into: &w)
            }
            w.raw("]}\n")
            context.sendJSON(w.bytes)
        }
        router.get("/v1/models/:id", .role(.reader)) { context in
            let id = context.parameter("id") ?? ""
            guard table.models[id] != nil else { return context.send(OpenAIError.modelNotFound(id)) }
            var w = JSONWriter()
            model(id, table, into: &w)
            w.raw("\n")
            context.sendJSON(w.bytes)
        }
        UsageRoutes.register(on: router, store: services.store)
    }

    static func model(_ name: String, _ table: ModelTable, into w: inout JSONWriter) {
        w.raw("{\"id\":"); w.string(name)
        w.raw(",\"object\":\"model\",\"created\":"); w.number(table.created)
        w.raw(",\"owned_by\":\"aiwriter\"}")
    }
}

/// What every AI call shares: the model table, the settings, the budget, the caches and where
/// usage goes.
struct AIProxy: Sendable {
    let table: ModelTable
    let settings: AIProxyConfiguration
    let budget: TokenBudget
    /// The exact cache: this process's, or Redis (`ai-cache-store`).
    let cache: (any AnswerStore)?
    /// The semantic cache and what embeds its prompts (`ai-cache: semantic`).
    let semantic: (SemanticCache, PromptEmbedder)?
    let store: Store
    let logger: Logger

    static let stateKey = LoopLocalKey()

    /// The one proxy a process has (`GatewayServices.aiProxy`): its caches as configured.
    static func make(configuration: GatewayConfiguration, table: ModelTable, budget: TokenBudget, store: Store, logger: Logger) -> AIProxy {
        let settings = configuration.aiProxy
        var semantic: (SemanticCache, PromptEmbedder)?
        if settings.cache == .semantic, let targets = table.models[settings.semanticModel] {
            semantic = (SemanticCache(threshold: settings.semanticThreshold, maximumPerScope: settings.semanticMaximumPerScope),
                        PromptEmbedder(targets: targets, settings: settings))
        }
        var cache: (any AnswerStore)?
        if settings.cache != .off {
            if settings.cacheStore != .local, let url = configuration.redisURL, let redis = try? RedisSettings(url: url) {
                cache = RedisAnswerCache(settings: redis, ttlMs: settings.cacheTTLMs, maximumBytes: settings.cacheMaximumBytes)
            } else {
                cache = ExactCache(maximumBytes: settings.cacheMaximumBytes, ttlMs: settings.cacheTTLMs)
            }
        }
        return AIProxy(table: table, settings: settings, budget: budget, cache: cache, semantic: semantic, store: store, logger: logger)
    }

    func call(_ context: RequestContext, _ kind: AIRequest.Kind) {
        let request: AIRequest
        do throws(OpenAIError) { request = try AIRequest.parse(context.request, kind: kind) } catch { return context.send(error) }
        run(request, caller: AICaller(context.caller), route: kind == .chat ? "/v1/chat/completions" : "/v1/embeddings",
            cacheHeader: context.request.header("X-AIWriter-Cache"), sink: context)
    }

    /// Each target's circuit breaker as `loop` sees it (breakers are per loop): `closed`,
    /// `open` or `probing`. Loop thread only.
    func breakerStates(on loop: EventLoop) -> [(target: String, state: String)] {
        let state = loop.existingLocal(for: AIProxy.stateKey, as: AIProxyLoopState.self)
        var seen = Set<Int>()
        var out: [(target: String, state: String)] = []
        for name in table.models.keys.sorted() {
            for target in table.models[name] ?? [] where seen.insert(target.index).inserted {
                switch state?.breakers[target.index].state ?? .closed(consecutiveFailures: 0) {
                case .closed: out.append((target.name, "closed"))
                case .open: out.append((target.name, "open"))
                case .probing: out.append((target.name, "probing"))
                }
            }
        }
        return out
    }

    /// A parsed call, answered through `sink`: the caches, then the budget and the targets.
    /// `finished` hears how it ended (after the usage row is queued).
    func run(_ request: AIRequest, caller: AICaller, route: String, cacheHeader: String?, sink: any AIAnswerSink,
             finished: ((ProxyCall.Outcome) -> Void)? = nil) {
        let kind = request.kind
        guard let targets = table.models[request.model] else {
            sink.fail(OpenAIError.modelNotFound(request.model))
            finished?(ProxyCall.Outcome(status: 404))
            return
        }
        let loop = sink.loop
        let state = loop.local(for: AIProxy.stateKey) {
            AIProxyLoopState(loop: loop, table: table, settings: settings, store: store, logger: logger)
        }
        let started = loop.nowMilliseconds
        func recordUsage(_ outcome: ProxyCall.Outcome, cache: String) {
            state.usage.record(UsageRow(tenantID: caller.tenantID, keyID: caller.keyID, route: route,
                                        promptTokens: max(0, outcome.promptTokens ?? 0), completionTokens: max(0, outcome.completionTokens ?? 0),
                                        at: Store.now, model: request.model, target: outcome.target, status: outcome.status,
                                        latencyMs: Int64(loop.nowMilliseconds &- started), cache: cache))
            finished?(outcome)
        }
        guard let cache, CacheKey.cacheable(request, header: cacheHeader) else {
            return forward(sink, request, targets, state: state, caller: caller, cacheKey: nil, semantic: nil, recordUsage: recordUsage)
        }
        let key = CacheKey(tenantID: caller.tenantID, kind: kind, stream: request.stream, object: request.object)
        // A hit costs no upstream tokens: it is answered before the budget is asked.
        cache.get(key, on: loop) { [self] entry in
            if let entry {
                AIProxy.replay(entry, request, sink, outcome: "hit")
                return recordUsage(ProxyCall.Outcome(target: entry.target, status: 200), cache: "hit")
            }
            guard let (semantic, embedder) = semantic, let (prompt, scope) = SemanticCache.prompt(of: request, tenantID: caller.tenantID) else {
                return forward(sink, request, targets, state: state, caller: caller, cacheKey: key, semantic: nil, recordUsage: recordUsage)
            }
            let signature = PromptSignature(prompt)
            embedder.embed(prompt, state: state, loop: loop) { [self] vector in
                guard let vector else {
                    return forward(sink, request, targets, state: state, caller: caller, cacheKey: key, semantic: nil, recordUsage: recordUsage)
                }
                let index = { semantic.insert(scope, vector: vector, signature: signature, answer: key) }
                guard let (id, answer) = semantic.lookup(scope, vector: vector, signature: signature) else {
                    return forward(sink, request, targets, state: state, caller: caller, cacheKey: key, semantic: index, recordUsage: recordUsage)
                }
                cache.get(answer, on: loop) { [self] found in
                    guard let found else {
                        semantic.forget(scope, id: id)
                        return forward(sink, request, targets, state: state, caller: caller, cacheKey: key, semantic: index, recordUsage: recordUsage)
                    }
                    AIProxy.replay(found, request, sink, outcome: "semantic")
                    recordUsage(ProxyCall.Outcome(target: found.target, status: 200), cache: "semantic")
                }
            }
        }
    }

    /// The call upstream, after the caches missed: the key's token budget reserved, then the
    /// targets tried (`ProxyCall`); a complete answer is kept under `cacheKey` and, for the
    /// semantic cache, its prompt indexed (`semantic`).
    func forward(_ sink: any AIAnswerSink, _ request: AIRequest, _ targets: [ModelTable.Target], state: AIProxyLoopState,
                 caller: AICaller, cacheKey: CacheKey?, semantic: (() -> Void)?, recordUsage: @escaping (ProxyCall.Outcome, String) -> Void) {
        let loop = sink.loop
        let kind = request.kind
        let cacheOutcome = cacheKey == nil ? "bypass" : "miss"
        var keep: ((ExactCache.Answer, String) -> Void)?
        if let cache, let cacheKey {
            keep = { answer, target in
                cache.put(cacheKey, answer, target: target, on: loop)
                semantic?()
            }
        }
        let start = { [self] (reservation: TokenBudget.Reservation?) in
            let call = ProxyCall(
                sink: sink, state: state, settings: settings, model: request.model, targets: targets,
                path: kind == .chat ? "/chat/completions" : "/embeddings",
                answer: request.stream ? .stream(clientAskedUsage: request.clientAskedUsage) : .buffered,
                keep: keep,
                body: { (target) throws(OpenAIError) in
                    guard target.provider.kind == .anthropic else {
                        return request.upstreamBody(model: target.upstreamModel,
                                                    injectUsage: request.stream && !request.clientAskedUsage && target.provider.streamUsage)
                    }
                    guard kind == .chat else {
                        throw OpenAIError.invalid("model \(request.model)'s target \(target.name) is Anthropic, which has no embeddings", param: "model")
                    }
                    return try AnthropicRequest.body(request, model: target.upstreamModel)
                },
                done: { outcome in
                    recordUsage(outcome, cacheOutcome)
                    guard let reservation else { return }
                    // A failed call used nothing; a success without reported usage keeps its estimate.
                    let used = outcome.totalTokens ?? (outcome.status >= 200 && outcome.status < 300 ? reservation.reserved : 0)
                    budget.settle(reservation, used: used, on: loop)
                })
            call.start()
        }
        guard let tokensPerMinute = caller.tokensPerMinute else { return start(nil) }
        budget.reserve(keyID: caller.keyID, tokensPerMinute: tokensPerMinute, estimate: request.estimatedTokens, on: loop) { result in
            switch result {
            case .success(let reservation):
                start(reservation)
            case .failure(.limited(_, let decision)):
                let waitMs = max(1, (decision.retryAfter + 999) / 1000)
                sink.fail(OpenAIError(.tooManyRequests,
                                         "Rate limit reached for tokens per minute: this key's budget is \(tokensPerMinute); this request reserves \(request.estimatedTokens). Please try again in \(waitMs)ms.",
                                         type: "tokens", code: "rate_limit_exceeded",
                                         headers: [("Retry-After", String((waitMs + 999) / 1000)), ("retry-after-ms", String(waitMs)),
                                                   ("x-should-retry", "false")]))
                recordUsage(ProxyCall.Outcome(status: 429), cacheOutcome)
            case .failure(.unavailable):
                sink.fail(OpenAIError(.serviceUnavailable, "the token budget cannot be checked now", type: "server_error",
                                         code: "budget_unavailable", headers: [("Retry-After", "1")]))
                recordUsage(ProxyCall.Outcome(status: 503), cacheOutcome)
            }
        }
    }

    /// A cached answer, as the upstream gave it: a whole body, or the stream's events in order
    /// (its usage chunk only to a client that asked for usage).
    static func replay(_ entry: ExactCache.Entry, _ request: AIRequest, _ sink: any AIAnswerSink, outcome: String) {
        let headers = [("X-AIWriter-Target", entry.target), ("X-AIWriter-Cache", outcome)]
        switch entry.answer {
        case .whole(let status, let contentType, let body):
            sink.answer(status: HTTPStatus(status), headers: headers + [("Content-Type", contentType)], body: body)
        case .stream(let events):
            sink.openStream(headers: headers + [("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no")])
            for event in events where !event.usageOnly || request.clientAskedUsage { sink.streamEvent(event.raw) }
            sink.closeStream()
        }
    }
}
