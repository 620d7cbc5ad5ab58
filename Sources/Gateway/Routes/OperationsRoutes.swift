import Net

/// `/healthz`, `/readyz` and `/metrics`: what load balancers and Prometheus call.
enum OperationsRoutes {
    static func register(on builder: RouterBuilder, gateway: @escaping @Sendable () -> GatewayServer?) {
        // Liveness: touches no dependency, so a database outage never restarts the process.
        builder.get("/healthz") { context in
            context.send(status: .ok, contentType: "text/plain; charset=utf-8", body: .staticString("ok"))
        }
        // Readiness: 503 while draining, so the balancer stops sending before connections close.
        builder.get("/readyz") { context in
            if gateway()?.isDraining ?? true {
                context.send(.unavailable("draining", retryAfterSeconds: 1))
            } else {
                context.send(status: .ok, contentType: "text/plain; charset=utf-8", body: .staticString("ready"))
            }
        }
        builder.get("/metrics") { context in
            guard let gateway = gateway() else {
                context.send(.unavailable("starting", retryAfterSeconds: 1))
                return
            }
            let text = gateway.renderMetrics()
            context.send(status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8", body: .string(text))
        }
    }
}
