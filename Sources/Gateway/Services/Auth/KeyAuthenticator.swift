import Net
import Storage

/// Turns `Authorization: Bearer aiw_…` into a live key's principal: a per-loop cache first
/// (a cached live key costs one hash and one dictionary lookup), the database otherwise (one
/// query shared by concurrent requests with the same new key). Every path that can fail or
/// reach the database is guarded by a per-address budget of failed authentications, so a
/// client guessing keys cannot load the database; a valid cached key never pays for it.
public final class KeyAuthenticator: Sendable {
    public let store: Store
    /// Applied to keys that do not set their own rate or burst.
    public let defaultRatePerSecond: Double
    public let defaultBurst: Int64
    /// Failed authentications allowed per client address (protects the key lookup itself).
    public let failurePolicy: RateLimitPolicy
    /// Failed authentications by address (always in this process).
    let failures = LocalRateLimiter()
    private let cacheKey = LoopLocalKey()

    public init(store: Store, defaultRatePerSecond: Double, defaultBurst: Int64, failurePolicy: RateLimitPolicy) {
        self.store = store
        self.defaultRatePerSecond = defaultRatePerSecond
        self.defaultBurst = defaultBurst
        self.failurePolicy = failurePolicy
    }

    func cache(on loop: EventLoop) -> KeyCache {
        loop.local(for: cacheKey) { KeyCache() }
    }

    /// The hash of the request's well-formed bearer secret, or nil (missing, malformed,
    /// foreign prefix, oversized) — refused before any hashing of garbage.
    @inline(__always)
    func presentedHash(_ context: RequestContext, _ cache: KeyCache) -> KeyHash? {
        context.request.withHeaderValue("authorization") { value in
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
    }

    /// The principal of a cached live key, with no allocation and no hop: the hot path.
    @inline(__always)
    func cachedPrincipal(_ context: RequestContext) -> Principal? {
        let loop = context.loop
        let cache = cache(on: loop)
        guard let hash = presentedHash(context, cache), let entry = cache.lookup(hash, now: loop.nowMilliseconds) else { return nil }
        return entry.principal
    }

    /// The slow path, after `cachedPrincipal` found nothing: answers 401, 429 (failure budget)
    /// or 503 itself, or calls `done` with the principal, on the request's loop.
    func resolve(_ context: RequestContext, _ done: @escaping (Principal) -> Void) {
        let loop = context.loop
        let cache = cache(on: loop)
        let hash = presentedHash(context, cache)
        let address = context.clientIP
        guard failures.wouldAllow(address, failurePolicy.gcra) else {
            context.send(GatewayError.rateLimited("too many failed authentications from this address", retryAfter: failurePolicy.gcra.interval))
            return
        }
        guard let hash else {
            return unauthorized(context, address, "missing or malformed Authorization: Bearer key")
        }
        let finish: (Result<APIKeyRecord?, StoreError>) -> Void = { [self] result in
            switch result {
            case .failure(let error):
                context.send(GatewayError(.serviceUnavailable, "unavailable", "cannot check the API key: \(error.message)",
                                          headers: [("Retry-After", "1")]))
            case .success(let key):
                guard let key, let principal = cache.lookup(hash, now: loop.nowMilliseconds)?.principal ?? self.principal(for: key),
                      APIKeySecret.constantTimeEquals(key.hash, hash.bytes) else {
                    return unauthorized(context, address, "unknown or revoked API key")
                }
                done(principal)
            }
        }
        if let entry = cache.lookup(hash, now: loop.nowMilliseconds) {
            return finish(.success(entry.key))
        }
        if cache.inFlight[hash] != nil {
            cache.inFlight[hash]!.append(finish)
            return
        }
        cache.inFlight[hash] = []
        store.key(hash: hash.bytes, on: loop) { [self] result in
            if case .success(let key) = result { cache.insert(hash, key, principal: principal(for: key), now: loop.nowMilliseconds) }
            let waiters = cache.inFlight.removeValue(forKey: hash) ?? []
            finish(result)
            for waiter in waiters { waiter(result) }
        }
    }

    /// The principal of a live key; nil for unknown or revoked ones.
    func principal(for key: APIKeyRecord?) -> Principal? {
        guard let key, key.revokedAt == nil else { return nil }
        let policy = RateLimitPolicy(ratePerSecond: key.ratePerSecond ?? defaultRatePerSecond, burst: key.burst ?? defaultBurst)
        return Principal(keyID: key.id, tenantID: key.tenantID, role: key.role, policy: policy, tokensPerMinute: key.tokensPerMinute)
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
