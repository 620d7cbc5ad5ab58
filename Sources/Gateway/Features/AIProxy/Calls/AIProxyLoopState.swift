import Net
import UpstreamClient

/// What each loop keeps for the AI proxy: its libcurl client and a circuit breaker per target.
/// Loop-owned, so the call path takes no lock.
final class AIProxyLoopState {
    let client: CurlMulti
    var breakers: [CircuitBreaker]

    init(loop: EventLoop, table: ModelTable, settings: AIProxyConfiguration) {
        client = CurlMulti.on(loop)
        breakers = Array(repeating: CircuitBreaker(threshold: settings.breakerFailures, cooldownMs: settings.breakerCooldownMs),
                         count: table.targetCount)
    }
}
