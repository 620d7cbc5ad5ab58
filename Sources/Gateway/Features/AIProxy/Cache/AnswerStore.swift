import Net

/// Where the exact cache's answers live: this process (`ExactCache`), or Redis, shared by every
/// replica (`RedisAnswerCache`). Lookups complete on the caller's loop — at once for the
/// process's own cache, after a round trip for Redis. A store that cannot answer (Redis down)
/// answers nil: a cache failure is a miss, never a failed call.
protocol AnswerStore: Sendable {
    func get(_ key: CacheKey, on loop: EventLoop, _ done: @escaping (ExactCache.Entry?) -> Void)
    func put(_ key: CacheKey, _ answer: ExactCache.Answer, target: String, on loop: EventLoop)
}

extension ExactCache: AnswerStore {
    func get(_ key: CacheKey, on loop: EventLoop, _ done: @escaping (ExactCache.Entry?) -> Void) {
        done(get(key, nowMs: loop.nowMilliseconds))
    }

    func put(_ key: CacheKey, _ answer: ExactCache.Answer, target: String, on loop: EventLoop) {
        put(key, answer, target: target, nowMs: loop.nowMilliseconds)
    }
}
