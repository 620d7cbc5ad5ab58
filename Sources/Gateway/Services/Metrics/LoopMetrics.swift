import Net
import Synchronization

/// One loop's request counters: requests by (route, status) and a latency histogram by route.
/// Only the owning loop writes (relaxed load + store, no locked instruction and no lock on the
/// request path); `/metrics` reads every loop's copy and sums them.
final class LoopMetrics: Sendable {
    static let maxRoutes = 64
    /// Common statuses get their own slot; the rest share the last one ("other").
    static let statusCodes: [Int] = [200, 201, 202, 204, 301, 302, 304, 308, 400, 401, 403, 404, 405, 408, 409, 411,
                                     413, 414, 415, 417, 422, 429, 431, 500, 501, 502, 503, 504, 505]
    static let statusSlots = 32
    /// Upper bounds of the latency buckets, in nanoseconds (Prometheus `le`, in seconds).
    static let bucketBounds: [UInt64] = [100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000,
                                         25_000_000, 50_000_000, 100_000_000, 250_000_000, 500_000_000,
                                         1_000_000_000, 2_500_000_000, 5_000_000_000, 10_000_000_000]
    static let bucketSlots = 17 // the bounds above plus +Inf

    let requests: InlineArray<2048, SingleWriterCounter> // maxRoutes * statusSlots
    let buckets: InlineArray<1088, SingleWriterCounter>  // maxRoutes * bucketSlots
    let latencySumNanos: InlineArray<64, SingleWriterCounter>

    init() {
        requests = InlineArray { _ in SingleWriterCounter() }
        buckets = InlineArray { _ in SingleWriterCounter() }
        latencySumNanos = InlineArray { _ in SingleWriterCounter() }
    }

    @inline(__always)
    static func statusSlot(_ code: Int) -> Int {
        switch code {
        case 200: return 0
        case 201: return 1
        case 202: return 2
        case 204: return 3
        case 301: return 4
        case 302: return 5
        case 304: return 6
        case 308: return 7
        case 400: return 8
        case 401: return 9
        case 403: return 10
        case 404: return 11
        case 405: return 12
        case 408: return 13
        case 409: return 14
        case 411: return 15
        case 413: return 16
        case 414: return 17
        case 415: return 18
        case 417: return 19
        case 422: return 20
        case 429: return 21
        case 431: return 22
        case 500: return 23
        case 501: return 24
        case 502: return 25
        case 503: return 26
        case 504: return 27
        case 505: return 28
        default: return 31
        }
    }

    @inline(__always)
    func record(route: Int, status: Int, nanoseconds: UInt64) {
        requests[route &* LoopMetrics.statusSlots &+ LoopMetrics.statusSlot(status)].add(1)
        var b = 0
        let bounds = LoopMetrics.bucketBounds
        while b < bounds.count && nanoseconds > bounds[b] { b += 1 }
        buckets[route &* LoopMetrics.bucketSlots &+ b].add(1)
        latencySumNanos[route].add(Int(truncatingIfNeeded: nanoseconds))
    }
}
