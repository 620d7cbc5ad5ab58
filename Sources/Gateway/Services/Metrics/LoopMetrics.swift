import Net
import Synchronization

/// One loop's request counters: requests by (route, status) and a latency histogram by route.
/// Only the owning loop writes (relaxed load + store, no locked instruction and no lock on the
/// request path); `/metrics` reads every loop's copy and sums them.
final class LoopMetrics: Sendable {
    static let maxRoutes = 96
    /// Common statuses get their own slot; the rest share the last one ("other").
    static let statusCodes: [Int] = [200, 201, 202, 204, 206, 301, 302, 304, 308, 400, 401, 403, 404, 405, 408, 409, 411,
                                     412, 413, 414, 415, 416, 417, 422, 428, 429, 431, 500, 501, 502, 503, 504, 505]
    static let statusSlots = 40
    /// Upper bounds of the latency buckets, in nanoseconds (Prometheus `le`, in seconds).
    static let bucketBounds: [UInt64] = [100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000,
                                         25_000_000, 50_000_000, 100_000_000, 250_000_000, 500_000_000,
                                         1_000_000_000, 2_500_000_000, 5_000_000_000, 10_000_000_000]
    static let bucketSlots = 17 // the bounds above plus +Inf

    let requests: InlineArray<3840, SingleWriterCounter> // maxRoutes * statusSlots
    let buckets: InlineArray<1632, SingleWriterCounter>  // maxRoutes * bucketSlots
    let latencySumNanos: InlineArray<96, SingleWriterCounter>

    init() {
        requests = InlineArray { _ in SingleWriterCounter() }
        buckets = InlineArray { _ in SingleWriterCounter() }
        latencySumNanos = InlineArray { _ in SingleWriterCounter() }
    }

    @inline(__always)
    static func statusSlot(_ code: Int) -> Int {
        // A switch the compiler turns into a jump table: the position in `statusCodes`.
        switch code {
        case 200: return 0
        case 201: return 1
        case 202: return 2
        case 204: return 3
        case 206: return 4
        case 301: return 5
        case 302: return 6
        case 304: return 7
        case 308: return 8
        case 400: return 9
        case 401: return 10
        case 403: return 11
        case 404: return 12
        case 405: return 13
        case 408: return 14
        case 409: return 15
        case 411: return 16
        case 412: return 17
        case 413: return 18
        case 414: return 19
        case 415: return 20
        case 416: return 21
        case 417: return 22
        case 422: return 23
        case 428: return 24
        case 429: return 25
        case 431: return 26
        case 500: return 27
        case 501: return 28
        case 502: return 29
        case 503: return 30
        case 504: return 31
        case 505: return 32
        default: return statusSlots - 1
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
