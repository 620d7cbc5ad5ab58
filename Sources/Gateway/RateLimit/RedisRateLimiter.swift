import COpenSSL
import Net
import Storage

/// GCRA shared by every replica through Redis: one Lua script per decision, atomic, one round
/// trip, with the time taken from Redis's own `TIME` so replicas with skewed clocks agree.
/// Each loop has its own connection; decisions from one loop pipeline on it.
public final class RedisRateLimiter: Sendable {
    public let settings: RedisSettings

    /// Returns {allowed, remaining, retry_after_us, used_us}; used_us is TAT − now after the call.
    static let decideScript = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local interval = tonumber(ARGV[1])
        local burst = tonumber(ARGV[2])
        local cost = tonumber(ARGV[3])
        local tat = tonumber(redis.call('GET', KEYS[1]))
        if tat == nil or tat < now then tat = now end
        local capacity = burst * interval
        local newtat = tat + cost * interval
        if newtat - now <= capacity then
          if newtat > now then redis.call('SET', KEYS[1], string.format('%d', newtat), 'PX', math.ceil((newtat - now) / 1000) + 1) end
          return {1, math.floor((capacity - (newtat - now)) / interval), 0, newtat - now}
        end
        return {0, math.max(0, math.floor((capacity - (tat - now)) / interval)), newtat - capacity - now, tat - now}
        """
    /// Moves a key's TAT by ARGV[1] microseconds (token settlement).
    static let adjustScript = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local tat = tonumber(redis.call('GET', KEYS[1]))
        if tat == nil or tat < now then tat = now end
        tat = tat + tonumber(ARGV[1])
        if tat > now then
          redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
        else
          redis.call('DEL', KEYS[1])
        end
        return 1
        """
    static let decideSHA = sha1Hex(decideScript)
    static let adjustSHA = sha1Hex(adjustScript)

    public init(settings: RedisSettings) {
        self.settings = settings
    }

    func client(on loop: EventLoop) -> RedisClient {
        loop.local(for: self) { RedisClient(loop: loop, settings: settings) }
    }

    public func decide(_ key: String, _ gcra: GCRA, cost: Int64 = 1, on loop: EventLoop,
                       _ done: @escaping (Result<GCRA.Decision, RedisError>) -> Void) {
        let arguments = ["1", "aiw:rl:" + key, String(gcra.interval), String(gcra.burst), String(cost)]
        evaluate(RedisRateLimiter.decideSHA, RedisRateLimiter.decideScript, arguments, on: loop) { result in
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

    public func adjust(_ key: String, _ gcra: GCRA, by delta: Int64, on loop: EventLoop,
                       _ done: @escaping (Result<Void, RedisError>) -> Void) {
        evaluate(RedisRateLimiter.adjustSHA, RedisRateLimiter.adjustScript,
                 ["1", "aiw:rl:" + key, String(delta * gcra.interval)], on: loop) { result in
            done(result.map { _ in () })
        }
    }

    /// EVALSHA, and on NOSCRIPT (a restarted or flushed Redis) EVAL, which caches it again.
    private func evaluate(_ sha: String, _ script: String, _ arguments: [String], on loop: EventLoop,
                          _ done: @escaping (Result<RedisReply, RedisError>) -> Void) {
        let client = client(on: loop)
        client.send(["EVALSHA", sha] + arguments) { result in
            if case .success(.error(let message)) = result, message.hasPrefix("NOSCRIPT") {
                client.send(["EVAL", script] + arguments) { retried in
                    if case .success(.error(let message)) = retried { return done(.failure(.unavailable(message))) }
                    done(retried)
                }
                return
            }
            if case .success(.error(let message)) = result { return done(.failure(.unavailable(message))) }
            done(result)
        }
    }

    /// Whether this loop's connection is up (for `/readyz` and metrics).
    public func isConnected(on loop: EventLoop) -> Bool { client(on: loop).isConnected }
}

func sha1Hex(_ text: String) -> String {
    var digest = [UInt8](repeating: 0, count: 20)
    let bytes = Array(text.utf8)
    _ = SHA1(bytes, bytes.count, &digest)
    return digest.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}
