import Net

/// `/healthz`, `/livez`, `/readyz` and `/metrics`: what load balancers, orchestrators and
/// Prometheus call.
enum OperationsFeature: GatewayFeature {
    static func register(on router: RouterBuilder, services: GatewayServices) {
        let lifecycle = services.lifecycle
        let metrics = services.metrics
        // Liveness: touches no dependency, so a database outage never restarts the process.
        for path in ["/healthz", "/livez"] {
            router.get(path, .public) { context in
                context.send(status: .ok, contentType: "text/plain; charset=utf-8", body: .staticString("ok"))
            }
        }
        // Readiness: 503 while starting or draining, so the balancer stops sending before
        // connections close. The body reports each dependency (the database by one round
        // trip, Redis by this loop's connection, each AI target by this loop's breaker); a
        // dependency that is down makes the answer `degraded`, still 200: a database outage
        // must not take every replica out of the balancer at once, when cached documents,
        // static files and the AI proxy still answer.
        router.get("/readyz", .public) { context in
            let started = EventLoop.monotonicNanoseconds
            services.store.ping(on: context.loop) { result in
                let databaseMs = Double(EventLoop.monotonicNanoseconds &- started) / 1_000_000
                let status: String
                if !lifecycle.isStarted { status = "starting" } else if lifecycle.isDraining { status = "draining" } else { status = "ready" }
                let redisUp = services.limiter.redis.map { $0.isConnected(on: context.loop) }
                var databaseUp = true
                if case .failure = result { databaseUp = false }
                let healthy = databaseUp && redisUp != false
                var w = JSONWriter(capacity: 256)
                w.raw("{\"status\":"); w.string(status == "ready" && !healthy ? "degraded" : status)
                w.raw(",\"database\":{\"status\":")
                switch result {
                case .success:
                    w.string("up"); w.raw(",\"latency_ms\":"); w.number((databaseMs * 100).rounded() / 100)
                case .failure(let error):
                    w.string("down"); w.raw(",\"error\":"); w.string(error.description)
                }
                w.raw(",\"backend\":"); w.string(services.store.dialect == .postgres ? "postgresql" : "sqlite"); w.raw("}")
                if let redisUp { w.raw(",\"redis\":{\"status\":"); w.string(redisUp ? "up" : "down"); w.raw("}") }
                let breakers = services.aiProxy.breakerStates(on: context.loop)
                if !breakers.isEmpty {
                    w.raw(",\"upstreams\":{")
                    for (i, breaker) in breakers.enumerated() {
                        if i > 0 { w.raw(",") }
                        w.string(breaker.target); w.raw(":"); w.string(breaker.state)
                    }
                    w.raw("}")
                }
                w.raw("}")
                var headers: [(String, String)] = [("Cache-Control", "no-store")]
                if status != "ready" { headers.append(("Retry-After", "1")) }
                context.send(status: status == "ready" ? .ok : .serviceUnavailable, contentType: "application/json", headers: headers, body: .bytes(w.bytes))
            }
        }
        router.get("/metrics", .public) { context in
            context.send(status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8", body: .string(metrics.render()))
        }
    }
}
