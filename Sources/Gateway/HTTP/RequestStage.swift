import Net
import Storage

/// One step of a route's pipeline, in the spirit of Hummingbird's router middleware: it looks
/// at the request, answers it itself (a 401, a 429) or calls `next` with the context it
/// enriched (a principal, a rate-limit state) — now, or later on the same loop.
///
/// Stages are composed once, when a route is registered, from what the route declares
/// (`RouteAccess`); the request path walks an array with an index, so it allocates nothing,
/// and the context is handed on (`consuming`), so a stage that enriches it copies nothing.
public protocol RequestStage: Sendable {
    func handle(_ context: consuming RequestContext, _ next: RequestStageNext)
}

/// The rest of a route's pipeline after one stage: the following stages, then the handler.
public struct RequestStageNext {
    @usableFromInline unowned(unsafe) let route: Route
    @usableFromInline let index: Int

    @usableFromInline init(route: Route, index: Int) {
        self.route = route
        self.index = index
    }

    @inlinable
    public func callAsFunction(_ context: consuming RequestContext) {
        if index < route.stages.count {
            route.stages[index].handle(context, RequestStageNext(route: route, index: index + 1))
        } else {
            route.handler(context)
        }
    }
}

/// What a route needs before its handler runs, and nothing more.
public enum RouteAccess: Sendable, Equatable {
    /// Anyone, no limit (health checks, metrics).
    case `public`
    /// Anyone, within the per-address limit when one is configured.
    case limited
    /// A key whose role covers this one: per-address limit → authentication (role) → the
    /// key's own limit, whose state every answer carries.
    case role(Role)
}

