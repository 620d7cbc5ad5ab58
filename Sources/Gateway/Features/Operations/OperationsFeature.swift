import Net

/// `/healthz`, `/readyz` and `/metrics`: what load balancers and Prometheus call.
enum OperationsFeature: GatewayFeature {
    static func register(on router: RouterBuilder, services: GatewayServices) {
        let lifecycle = services.lifecycle
        let metrics = services.metrics
        // Liveness: touches no dependency, so a database outage never restarts the process.
        router.get("/healthz", .public) { context in
            context.send(status: .ok, contentType: "text/plain; charset=utf-8", body: .staticString("ok"))
        }
        // Readiness: 503 while draining, so the balancer stops sending before connections close.
        router.get("/readyz", .public) { context in
            if !lifecycle.isStarted || lifecycle.isDraining {
                context.send(GatewayError.unavailable(lifecycle.isDraining ? "draining" : "starting", retryAfterSeconds: 1))
            } else {
                context.send(status: .ok, contentType: "text/plain; charset=utf-8", body: .staticString("ready"))
            }
        }
        router.get("/metrics", .public) { context in
            context.send(status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8", body: .string(metrics.render()))
        }
    }
}
