import Logging
import Net
import Storage
import UpstreamClient

/// What each loop keeps for the AI proxy: its libcurl client and a circuit breaker per target.
/// Loop-owned, so the call path takes no lock.
final class AIProxyLoopState {
    let client: CurlMulti
    let usage: UsageRecorder
    var breakers: [CircuitBreaker]
    /// Each target's constant request headers, whole and streamed (index: target × 2 + stream).
    let headerLists: [UpstreamHeaderList]

    init(loop: EventLoop, table: ModelTable, settings: AIProxyConfiguration, store: Store, logger: Logger) {
        client = CurlMulti.on(loop)
        usage = UsageRecorder(loop: loop, store: store, logger: logger)
        breakers = Array(repeating: CircuitBreaker(threshold: settings.breakerFailures, cooldownMs: settings.breakerCooldownMs),
                         count: table.targetCount)
        var lists = [UpstreamHeaderList?](repeating: nil, count: table.targetCount * 2)
        for targets in table.models.values {
            for target in targets {
                for stream in [false, true] {
                    var fields: [(String, String)] = [("Content-Type", "application/json"), ("User-Agent", "aiwriter-gateway"),
                                                      ("Accept", stream ? "text/event-stream" : "application/json")]
                    if target.provider.kind == .anthropic {
                        fields.append(("anthropic-version", AnthropicRequest.version))
                        if let key = target.provider.apiKey { fields.append(("x-api-key", key)) }
                    } else if let key = target.provider.apiKey {
                        fields.append(("Authorization", "Bearer " + key))
                    }
                    lists[target.index * 2 + (stream ? 1 : 0)] = UpstreamHeaderList(fields)
                }
            }
        }
        headerLists = lists.map { $0! }
    }

    func headers(for target: ModelTable.Target, streaming: Bool) -> UpstreamHeaderList {
        headerLists[target.index * 2 + (streaming ? 1 : 0)]
    }
}
