import Net
import Storage

/// A live key whose role covers `role`: sets the context's principal, or answers 401 / 403 /
/// 429 (failed-authentication budget) / 503 (database down) itself.
struct AuthenticationStage: RequestStage {
    let authenticator: KeyAuthenticator
    let role: Role

    func handle(_ context: consuming RequestContext, _ next: RequestStageNext) {
        // A cached live key: no closure, no hop.
        if let principal = authenticator.cachedPrincipal(context) {
            return admit(context, principal, next)
        }
        let waiting = copy context
        authenticator.resolve(waiting) { principal in admit(waiting, principal, next) }
    }

    @inline(__always)
    private func admit(_ context: consuming RequestContext, _ principal: Principal, _ next: RequestStageNext) {
        guard principal.allows(role) else {
            context.send(GatewayError(.forbidden, "forbidden", "this key's role (\(principal.role.rawValue)) may not \(context.request.method) here"))
            return
        }
        context.principal = principal
        next(context)
    }
}
