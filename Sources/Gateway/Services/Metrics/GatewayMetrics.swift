import Net
#if canImport(Glibc)
import Glibc
#endif

/// The gateway's metrics: per-loop counters written without locks on the request path, summed
/// into Prometheus text (format 0.0.4) when `/metrics` is scraped.
public final class GatewayMetrics: Sendable {
    let loops: [LoopMetrics]
    let routeLabels: [String]
    let startTime: Double

    /// Route slot 0 counts requests that matched no route.
    static let unmatchedRoute = 0

    init(loopCount: Int, routePatterns: [String]) {
        precondition(routePatterns.count + 1 <= LoopMetrics.maxRoutes, "too many routes for the metrics table")
        loops = (0..<loopCount).map { _ in LoopMetrics() }
        routeLabels = ["unmatched"] + routePatterns
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        startTime = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    @inline(__always)
    func record(loop: Int, routeSlot: Int, status: Int, nanoseconds: UInt64) {
        loops[loop].record(route: routeSlot, status: status, nanoseconds: nanoseconds)
    }

    /// Requests by route and status, and latency by route.
    func write(into text: inout PrometheusText) {
        text.family("aiwriter_http_requests_total", .counter, "HTTP requests answered, by route and status.")
        for r in 0..<routeLabels.count {
            for s in 0..<LoopMetrics.statusSlots {
                var total = 0
                for l in loops { total += l.requests[r * LoopMetrics.statusSlots + s].value }
                if total == 0 { continue }
                let code = s < LoopMetrics.statusCodes.count ? String(LoopMetrics.statusCodes[s]) : "other"
                text.sample("aiwriter_http_requests_total", [("route", routeLabels[r]), ("status", code)], total)
            }
        }
        text.family("aiwriter_http_request_duration_seconds", .histogram, "Time from the first byte of a request to its response, by route.")
        for r in 0..<routeLabels.count {
            var counts = [Int](repeating: 0, count: LoopMetrics.bucketSlots)
            var sum = 0
            for l in loops {
                for b in 0..<LoopMetrics.bucketSlots { counts[b] += l.buckets[r * LoopMetrics.bucketSlots + b].value }
                sum += l.latencySumNanos[r].value
            }
            let count = counts.reduce(0, +)
            if count == 0 { continue }
            var cumulative = 0
            for b in 0..<LoopMetrics.bucketSlots {
                cumulative += counts[b]
                let le = b < LoopMetrics.bucketBounds.count ? formatSeconds(LoopMetrics.bucketBounds[b]) : "+Inf"
                text.sample("aiwriter_http_request_duration_seconds_bucket", [("route", routeLabels[r]), ("le", le)], cumulative)
            }
            text.sample("aiwriter_http_request_duration_seconds_sum", [("route", routeLabels[r])], String(Double(sum) / 1e9))
            text.sample("aiwriter_http_request_duration_seconds_count", [("route", routeLabels[r])], count)
        }
    }

    /// The HTTP server's own counters (connections, bytes, protocol errors, TLS).
    static func write(server: HTTPServerStatsSnapshot, into text: inout PrometheusText) {
        text.single("aiwriter_http_connections_open", .gauge, "Open client connections.", String(server.connectionsOpen))
        text.single("aiwriter_http_connections_accepted_total", .counter, "Client connections accepted.", String(server.connectionsAccepted))
        text.single("aiwriter_http_connections_rejected_total", .counter, "Connections closed at accept because a loop was full or draining.", String(server.connectionsRejected))
        text.single("aiwriter_http_received_bytes_total", .counter, "Bytes read from clients.", String(server.bytesIn))
        text.single("aiwriter_http_sent_bytes_total", .counter, "Bytes written to clients.", String(server.bytesOut))
        text.single("aiwriter_http_protocol_errors_total", .counter, "Requests rejected by the HTTP codec (malformed, too large, timed out).", String(server.protocolErrors))
        text.single("aiwriter_http_timeouts_total", .counter, "Connections closed by a header, body, idle or send timeout.", String(server.timeouts))
        text.single("aiwriter_tls_handshakes_total", .counter, "Completed TLS handshakes.", String(server.tlsHandshakes))
        text.single("aiwriter_tls_resumptions_total", .counter, "TLS handshakes that resumed a session (ticket or cache).", String(server.tlsResumed))
        text.family("aiwriter_tls_protocol_handshakes_total", .counter, "Completed TLS handshakes by negotiated protocol version.")
        text.sample("aiwriter_tls_protocol_handshakes_total", [("version", "1.2")], server.tls12)
        text.sample("aiwriter_tls_protocol_handshakes_total", [("version", "1.3")], server.tls13)
        text.family("aiwriter_tls_handshake_failures_total", .counter, "Failed TLS handshakes by reason.")
        for reason in HTTPLoopStats.tlsFailureReasons {
            text.sample("aiwriter_tls_handshake_failures_total", [("reason", reason)], server.tlsFailures[reason] ?? 0)
        }
    }

    /// Process-wide series (start time, resident memory).
    func writeProcess(into text: inout PrometheusText) {
        text.single("process_start_time_seconds", .gauge, "Start time of the process since the Unix epoch in seconds.", String(startTime))
        if let rss = GatewayMetrics.residentMemoryBytes() {
            text.single("process_resident_memory_bytes", .gauge, "Resident memory size in bytes.", String(rss))
        }
    }

    func formatSeconds(_ nanos: UInt64) -> String {
        let s = Double(nanos) / 1e9
        var text = String(s)
        if text.hasSuffix(".0") { text.removeLast(2) }
        return text
    }

    static func residentMemoryBytes() -> Int? {
        let fd = open("/proc/self/statm", O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let n = read(fd, &buffer, 127)
        guard n > 0 else { return nil }
        let fields = buffer[0..<n].split(separator: 0x20)
        guard fields.count > 1, let pages = Int(String(decoding: fields[1], as: UTF8.self)) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
