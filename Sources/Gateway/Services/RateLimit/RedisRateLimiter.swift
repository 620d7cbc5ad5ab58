import Net
import Storage

/// GCRA shared by every replica through Redis: one Lua script per decision, atomic, one round
/// trip, with the time taken from Redis's own `TIME` so replicas with skewed clocks agree.
/// Each loop has its own connection; decisions from one loop pipeline on it.
public final class RedisRateLimiter: Sendable {
    public let settings: RedisSettings

    /// How every script starts (each must stand alone in Redis, so it is repeated in the text
    /// sent, not in the source): Redis's clock in microseconds, and the key's TAT, never in the past.
    static let preamble = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local tat = tonumber(redis.call('GET', KEYS[1]))
        if tat == nil or tat < now then tat = now end

        """

    /// Returns {allowed, remaining, retry_after_us, used_us}; used_us is TAT − now after the call.
    static let decideScript = preamble + """
        local interval = tonumber(ARGV[1])
        local burst = tonumber(ARGV[2])
        local cost = tonumber(ARGV[3])
        local capacity = burst * interval
        local newtat = tat + cost * interval
        if newtat - now <= capacity then
          if newtat > now then redis.call('SET', KEYS[1], string.format('%d', newtat), 'PX', math.ceil((newtat - now) / 1000) + 1) end
          return {1, math.floor((capacity - (newtat - now)) / interval), 0, newtat - now}
        end
        return {0, math.max(0, math.floor((capacity - (tat - now)) / interval)), newtat - capacity - now, tat - now}
        """
    /// Moves a key's TAT by ARGV[1] microseconds (token settlement).
    static let adjustScript = preamble + """
        tat = tat + tonumber(ARGV[1])
        if tat > now then
          redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
        else
          redis.call('DEL', KEYS[1])
        end
        return 1
        """
    /// Decides ARGV[3] unit requests at once, exactly as if they arrived one after another at
    /// the same instant: returns {allowed count, remaining after, retry_after_us of the first
    /// refused, used_us after}.
    static let batchScript = preamble + """
        local interval = tonumber(ARGV[1])
        local burst = tonumber(ARGV[2])
        local n = tonumber(ARGV[3])
        local capacity = burst * interval
        local k = math.floor((now + capacity - tat) / interval)
        if k < 0 then k = 0 end
        if k > n then k = n end
        local newtat = tat + k * interval
        if k > 0 then
          redis.call('SET', KEYS[1], string.format('%d', newtat), 'PX', math.ceil((newtat - now) / 1000) + 1)
        end
        return {k, math.max(0, math.floor((capacity - (newtat - now)) / interval)), newtat + interval - capacity - now, newtat - now}
        """
    static let batch = RedisScript(batchScript)
    static let decide = RedisScript(decideScript)
    static let adjust = RedisScript(adjustScript)

    public init(settings: RedisSettings) {
        self.settings = settings
    }

    func client(on loop: EventLoop) -> RedisClient {
        loop.local(for: clientKey) { RedisClient(loop: loop, settings: settings) }
    }

    public func decide(_ key: String, _ gcra: GCRA, cost: Int64 = 1, on loop: EventLoop,
                       _ done: @escaping (Result<GCRA.Decision, RedisError>) -> Void) {
        let arguments = ["1", "aiw:rl:" + key, String(gcra.interval), String(gcra.burst), String(cost)]
        client(on: loop).evaluate(RedisRateLimiter.decide, arguments) { result in
            done(result.flatMap { reply in
                guard case .array(let items) = reply, items.count == 4,
                      let allowed = items[0].integer, let remaining = items[1].integer,
                      let retry = items[2].integer, let used = items[3].integer
                else { return .failure(.unavailable("unexpected reply from the rate-limit script: \(reply)")) }
                let nextUnit = remaining < gcra.burst ? max(0, used - (gcra.burst - remaining - 1) * gcra.interval) : 0
                return .success(GCRA.Decision(allowed: allowed == 1, remaining: remaining, retryAfter: retry,
                                              nextUnitAfter: nextUnit, tat: 0))
            })
        }
    }

    /// One unit request against `key`. Requests for the same key within one loop turn go to
    /// Redis as one script call (a batch of n decided in order), so a busy key costs one
    /// round trip per turn instead of one per request.
    public func decideUnit(_ key: String, _ gcra: GCRA, on loop: EventLoop,
                           _ done: @escaping (Result<GCRA.Decision, RedisError>) -> Void) {
        loop.local(for: batchKey) { DecisionBatcher(loop: loop, limiter: self) }.add(key, gcra, done)
    }

    func decideBatch(_ key: String, _ gcra: GCRA, count: Int, on loop: EventLoop,
                     _ done: @escaping (Result<[GCRA.Decision], RedisError>) -> Void) {
        let arguments = ["1", "aiw:rl:" + key, String(gcra.interval), String(gcra.burst), String(count)]
        client(on: loop).evaluate(RedisRateLimiter.batch, arguments) { result in
            done(result.flatMap { reply in
                guard case .array(let items) = reply, items.count == 4,
                      let allowed = items[0].integer, let remainingAfter = items[1].integer,
                      let retry = items[2].integer, let used = items[3].integer
                else { return .failure(.unavailable("unexpected reply from the rate-limit script: \(reply)")) }
                var decisions: [GCRA.Decision] = []
                decisions.reserveCapacity(count)
                for i in 0..<count {
                    if Int64(i) < allowed {
                        let remaining = remainingAfter + (allowed - 1 - Int64(i))
                        let nextUnit = remaining < gcra.burst ? max(0, used - (allowed - 1 - Int64(i)) * gcra.interval - (gcra.burst - remaining - 1) * gcra.interval) : 0
                        decisions.append(GCRA.Decision(allowed: true, remaining: remaining, retryAfter: 0, nextUnitAfter: nextUnit, tat: 0))
                    } else {
                        decisions.append(GCRA.Decision(allowed: false, remaining: 0, retryAfter: max(0, retry),
                                                       nextUnitAfter: max(0, retry), tat: 0))
                    }
                }
                return .success(decisions)
            })
        }
    }

    private let batchKey = LoopLocalKey()
    private let clientKey = LoopLocalKey()

    public func adjust(_ key: String, _ gcra: GCRA, by delta: Int64, on loop: EventLoop,
                       _ done: @escaping (Result<Void, RedisError>) -> Void) {
        client(on: loop).evaluate(RedisRateLimiter.adjust, ["1", "aiw:rl:" + key, String(delta * gcra.interval)]) { result in
            done(result.map { _ in () })
        }
    }

    /// EVALSHA, and on NOSCRIPT (a restarted or flushed Redis) EVAL, which caches it again.
    /// Whether this loop's connection is up (for `/readyz` and metrics).
    public func isConnected(on loop: EventLoop) -> Bool { client(on: loop).isConnected }
}


/// One loop's unit decisions waiting for the end of the loop turn (`EventLoop.afterTurn`: after
/// the turn's I/O callbacks), grouped by key. Loop thread only.
final class DecisionBatcher {
    struct Group {
        var gcra: GCRA
        var waiting: [(Result<GCRA.Decision, RedisError>) -> Void]
    }

    unowned let limiter: RedisRateLimiter
    let loop: EventLoop
    private var groups: [String: Group] = [:]
    private var armed = false
    /// Made once: arming the after-turn flush allocates nothing per turn.
    private lazy var flushAfterTurn: () -> Void = { [unowned self] in flush() }

    init(loop: EventLoop, limiter: RedisRateLimiter) {
        self.loop = loop
        self.limiter = limiter
    }

    func add(_ key: String, _ gcra: GCRA, _ done: @escaping (Result<GCRA.Decision, RedisError>) -> Void) {
        if groups[key]?.gcra == gcra {
            groups[key]!.waiting.append(done)
        } else {
            if let previous = groups.removeValue(forKey: key) { send(key, previous) }
            groups[key] = Group(gcra: gcra, waiting: [done])
        }
        if !armed {
            armed = true
            loop.afterTurn(flushAfterTurn)
        }
    }

    private func flush() {
        armed = false
        let pending = groups
        groups.removeAll(keepingCapacity: true)
        for (key, group) in pending { send(key, group) }
    }

    private func send(_ key: String, _ group: Group) {
        if group.waiting.count == 1 {
            limiter.decide(key, group.gcra, on: loop, group.waiting[0])
            return
        }
        let waiting = group.waiting
        limiter.decideBatch(key, group.gcra, count: waiting.count, on: loop) { result in
            switch result {
            case .success(let decisions): for (done, decision) in zip(waiting, decisions) { done(.success(decision)) }
            case .failure(let error): for done in waiting { done(.failure(error)) }
            }
        }
    }
}
