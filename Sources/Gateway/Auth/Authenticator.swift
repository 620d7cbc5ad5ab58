import Net
import Storage

/// Guards the `/v1` routes: the caller's address must be within its request limit (when one is
/// configured) and its budget of failed authentications, `Authorization: Bearer aiw_…` must
/// name a live key whose role covers the route, and the key must be within its rate limit.
/// Answers 429 / 401 / 403 / 429 / 503 itself; otherwise calls the route with the principal and
/// the RateLimit headers to send.
public final class Authenticator: Sendable {
    public let store: Store
    public let limiter: RateLimiter
    /// Applied to keys that do not set their own rate or burst.
    public let defaultRatePerSecond: Double
    public let defaultBurst: Int64
    /// Failed authentications allowed per client address (protects the key lookup itself).
    public let failurePolicy: RateLimitPolicy
    /// Failed authentications by address (always in this process).
    let failures = LocalRateLimiter()
    private let cacheKey = LoopLocalKey()
    /// Requests per client address, before any key is looked at (in the limiter's store, so
    /// shared by replicas when that is Redis); nil when not configured.
    public let addressPolicy: RateLimitPolicy?

    public init(store: Store, limiter: RateLimiter, defaultRatePerSecond: Double, defaultBurst: Int64,
                failurePolicy: RateLimitPolicy, addressPolicy: RateLimitPolicy? = nil) {
        self.store = store
        self.limiter = limiter
        self.defaultRatePerSecond = defaultRatePerSecond
        self.defaultBurst = defaultBurst
        self.failurePolicy = failurePolicy
        self.addressPolicy = addressPolicy
    }

    func cache(on loop: EventLoop) -> KeyCache {
        loop.local(for: cacheKey) { KeyCache() }
    }

    /// A route handler that runs `handler` only for a caller with at least `role`.
    public func guarded(_ role: Role, _ handler: @escaping @Sendable (AuthorizedRequest) -> Void) -> RouteHandler {
        { [self] context in self.authorize(context, role, handler) }
    }

    func authorize(_ context: RequestContext, _ role: Role, _ handler: @escaping @Sendable (AuthorizedRequest) -> Void) {
        guard let policy = addressPolicy else { return authenticate(context, role, handler) }
        let key = "ip:" + context.clientIP
        if limiter.redis == nil {
            return admitAddress(context, policy, .decided(limiter.local.decide(key, policy.gcra)), role, handler)
        }
        limiter.check(key, policy, on: context.loop) { [self] outcome in admitAddress(context, policy, outcome, role, handler) }
    }

    private func admitAddress(_ context: RequestContext, _ policy: RateLimitPolicy, _ outcome: RateLimiter.Outcome, _ role: Role,
                              _ handler: @escaping @Sendable (AuthorizedRequest) -> Void) {
        switch outcome {
        case .unavailable:
            context.send(.limiterUnavailable)
        case .decided(let decision) where !decision.allowed:
            let seconds = GatewayError.retrySeconds(decision.retryAfter)
            context.send(.rateLimited("too many requests from this address (\(policy.policyHeader)); retry in \(seconds) s",
                                      retryAfter: decision.retryAfter,
                                      headers: [("RateLimit-Policy", policy.policyHeader), ("RateLimit", policy.stateHeader(decision))]))
        case .decided:
            authenticate(context, role, handler)
        }
    }

    private func authenticate(_ context: RequestContext, _ role: Role, _ handler: @escaping @Sendable (AuthorizedRequest) -> Void) {
        let loop = context.loop
        let cache = cache(on: loop)
        let hash: KeyHash? = context.request.withHeaderValue("authorization") { value in
            guard let value, value.count > 7 else { return nil }
            // "Bearer " case-insensitively, then exactly one well-formed secret.
            // Read from the binary's constant data: no array per request.
            let scheme: StaticString = "bearer"
            for i in 0..<6 where (value[i] | 0x20) != scheme.utf8Start[i] { return nil }
            guard value[6] == 0x20 else { return nil }
            let token = UnsafeRawBufferPointer(rebasing: value[7...])
            guard APIKeySecret.isWellFormed(token) else { return nil }
            return cache.hash(token)
        }
        // A cached live key needs nothing else: the per-address check below guards only the
        // paths that can fail or reach the database.
        if let hash, let entry = cache.lookup(hash, now: loop.nowMilliseconds), let principal = entry.principal {
            return admit(context, principal, role, handler)
        }
        let address = context.clientIP
        guard failures.wouldAllow(address, failurePolicy.gcra) else {
            context.send(.rateLimited("too many failed authentications from this address", retryAfter: failurePolicy.gcra.interval))
            return
        }
        guard let hash else {
            return unauthorized(context, address, "missing or malformed Authorization: Bearer key")
        }
        if let entry = cache.lookup(hash, now: loop.nowMilliseconds) {
            return proceed(context, entry.key, entry.principal, hash, address, role, handler)
        }
        if cache.inFlight[hash] != nil {
            cache.inFlight[hash]!.append { [self] result in self.resolved(context, result, hash, address, role, handler) }
            return
        }
        cache.inFlight[hash] = []
        store.key(hash: hash.bytes, on: loop) { [self] result in
            if case .success(let key) = result { cache.insert(hash, key, principal: principal(for: key), now: loop.nowMilliseconds) }
            let waiters = cache.inFlight.removeValue(forKey: hash) ?? []
            resolved(context, result, hash, address, role, handler)
            for waiter in waiters { waiter(result) }
        }
    }

    /// The principal of a live key; nil for unknown or revoked ones.
    func principal(for key: APIKeyRecord?) -> Principal? {
        guard let key, key.revokedAt == nil else { return nil }
        let policy = RateLimitPolicy(ratePerSecond: key.ratePerSecond ?? defaultRatePerSecond, burst: key.burst ?? defaultBurst)
        return Principal(keyID: key.id, tenantID: key.tenantID, role: key.role, policy: policy, tokensPerMinute: key.tokensPerMinute)
    }

    private func resolved(_ context: RequestContext, _ result: Result<APIKeyRecord?, StoreError>, _ hash: KeyHash,
                          _ address: String, _ role: Role, _ handler: @escaping @Sendable (AuthorizedRequest) -> Void) {
        switch result {
        case .success(let key): proceed(context, key, principal(for: key), hash, address, role, handler)
        case .failure(let error):
            context.send(GatewayError(.serviceUnavailable, "unavailable", "cannot check the API key: \(error.message)",
                                      headers: [("Retry-After", "1")]))
        }
    }

    private func proceed(_ context: RequestContext, _ key: APIKeyRecord?, _ principal: Principal?, _ hash: KeyHash,
                         _ address: String, _ role: Role, _ handler: @escaping @Sendable (AuthorizedRequest) -> Void) {
        guard let key, let principal, APIKeySecret.constantTimeEquals(key.hash, hash.bytes) else {
            return unauthorized(context, address, "unknown or revoked API key")
        }
        admit(context, principal, role, handler)
    }

    /// Role, then rate limit, then the route.
    @inline(__always)
    private func admit(_ context: RequestContext, _ principal: Principal, _ role: Role,
                       _ handler: @escaping @Sendable (AuthorizedRequest) -> Void) {
        guard principal.allows(role) else {
            context.send(GatewayError(.forbidden, "forbidden", "this key's role (\(principal.role.rawValue)) may not \(context.request.method) here"))
            return
        }
        if limiter.redis == nil {
            // The local limiter answers at once: no closure, no hop.
            finish(context, principal, .decided(limiter.local.decide(principal.keyID, principal.policy.gcra)), handler)
            return
        }
        limiter.check(principal.keyID, principal.policy, on: context.loop) { [self] outcome in
            finish(context, principal, outcome, handler)
        }
    }

    private func finish(_ context: RequestContext, _ principal: Principal, _ outcome: RateLimiter.Outcome,
                        _ handler: @escaping @Sendable (AuthorizedRequest) -> Void) {
        switch outcome {
        case .unavailable:
            context.send(.limiterUnavailable)
        case .decided(let decision):
            let policy = principal.policy
            let headers = [("RateLimit-Policy", principal.policyHeader), ("RateLimit", policy.stateHeader(decision))]
            guard decision.allowed else {
                let seconds = GatewayError.retrySeconds(decision.retryAfter)
                context.send(.rateLimited("rate limit of \(principal.policyHeader) exceeded; retry in \(seconds) s",
                                          retryAfter: decision.retryAfter, headers: headers))
                return
            }
            handler(AuthorizedRequest(context: context, principal: principal, headers: headers))
        }
    }

    private func unauthorized(_ context: RequestContext, _ address: String, _ message: String) {
        _ = failures.decide(address, failurePolicy.gcra)
        context.send(GatewayError(.unauthorized, "unauthorized", message, headers: [("WWW-Authenticate", "Bearer")]))
    }

    /// Drops cached keys whose hashes were revoked (called on each loop).
    func evict(_ hashes: [[UInt8]], on loop: EventLoop) {
        let cache = cache(on: loop)
        for hash in hashes where hash.count == 32 { cache.evict(KeyHash(hash)) }
    }
}

/// A request that passed the guard: its principal, and the RateLimit headers every answer carries.
public struct AuthorizedRequest {
    public let context: RequestContext
    public let principal: Principal
    public let headers: [(String, String)]

    public var loop: EventLoop { context.loop }
    public var request: HTTPRequest { context.request }

    public func sendJSON(status: HTTPStatus = .ok, _ bytes: [UInt8]) {
        context.sendJSON(status: status, bytes, headers: headers)
    }

    public func send(_ error: GatewayError) {
        var error = error
        error.headers += headers
        context.send(error)
    }

    /// Maps a storage error to its status (404/409/422/503/504/500).
    public func send(_ error: StoreError) {
        send(GatewayError.from(error))
    }
}

extension GatewayError {
    /// 503 when the shared limiter cannot decide and the failure mode is closed.
    static let limiterUnavailable = GatewayError(.serviceUnavailable, "unavailable", "the shared rate limiter is unavailable",
                                                 headers: [("Retry-After", "1")])

    /// A 429 with `Retry-After` (whole seconds, rounded up, at least 1) after `headers`.
    static func rateLimited(_ message: String, retryAfter microseconds: Int64, headers: [(String, String)] = []) -> GatewayError {
        GatewayError(.tooManyRequests, "rate_limited", message, headers: headers + [("Retry-After", String(retrySeconds(microseconds)))])
    }

    static func retrySeconds(_ microseconds: Int64) -> Int64 { max(1, (microseconds + 999_999) / 1_000_000) }

    public static func from(_ error: StoreError) -> GatewayError {
        switch error {
        case .notFound(let m): return GatewayError(.notFound, "not_found", m)
        case .conflict(let m): return GatewayError(.conflict, "conflict", m)
        case .invalid(let m): return GatewayError(.unprocessableContent, "invalid_request", m)
        case .unavailable(let m): return GatewayError(.serviceUnavailable, "unavailable", m, headers: [("Retry-After", "1")])
        case .timeout(let m): return GatewayError(.gatewayTimeout, "timeout", m)
        case .internalError: return GatewayError(.internalServerError, "internal_error", "the database refused the request")
        }
    }
}
