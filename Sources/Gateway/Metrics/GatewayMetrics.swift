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

    /// Prometheus text exposition.
    func render(server: HTTPServerStatsSnapshot, draining: Bool) -> String {
        var out = ""
        out.reserveCapacity(8192)
        out += "# HELP aiwriter_http_requests_total HTTP requests answered, by route and status.\n"
        out += "# TYPE aiwriter_http_requests_total counter\n"
        for r in 0..<routeLabels.count {
            for s in 0..<LoopMetrics.statusSlots {
                var total = 0
                for l in loops { total += l.requests[r * LoopMetrics.statusSlots + s].value }
                if total == 0 { continue }
                let code = s < LoopMetrics.statusCodes.count ? String(LoopMetrics.statusCodes[s]) : "other"
                out += "aiwriter_http_requests_total{route=\"\(escape(routeLabels[r]))\",status=\"\(code)\"} \(total)\n"
            }
        }
        out += "# HELP aiwriter_http_request_duration_seconds Time from the first byte of a request to its response, by route.\n"
        out += "# TYPE aiwriter_http_request_duration_seconds histogram\n"
        for r in 0..<routeLabels.count {
            var counts = [Int](repeating: 0, count: LoopMetrics.bucketSlots)
            var sum = 0
            for l in loops {
                for b in 0..<LoopMetrics.bucketSlots { counts[b] += l.buckets[r * LoopMetrics.bucketSlots + b].value }
                sum += l.latencySumNanos[r].value
            }
            let count = counts.reduce(0, +)
            if count == 0 { continue }
            let label = escape(routeLabels[r])
            var cumulative = 0
            for b in 0..<LoopMetrics.bucketSlots {
                cumulative += counts[b]
                let le = b < LoopMetrics.bucketBounds.count ? formatSeconds(LoopMetrics.bucketBounds[b]) : "+Inf"
                out += "aiwriter_http_request_duration_seconds_bucket{route=\"\(label)\",le=\"\(le)\"} \(cumulative)\n"
            }
            out += "aiwriter_http_request_duration_seconds_sum{route=\"\(label)\"} \(Double(sum) / 1e9)\n"
            out += "aiwriter_http_request_duration_seconds_count{route=\"\(label)\"} \(count)\n"
        }
        func single(_ name: String, _ type: String, _ help: String, _ value: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n"
        }
        single("aiwriter_http_connections_open", "gauge", "Open client connections.", String(server.connectionsOpen))
        single("aiwriter_http_connections_accepted_total", "counter", "Client connections accepted.", String(server.connectionsAccepted))
        single("aiwriter_http_connections_rejected_total", "counter", "Connections closed at accept because a loop was full or draining.", String(server.connectionsRejected))
        single("aiwriter_http_received_bytes_total", "counter", "Bytes read from clients.", String(server.bytesIn))
        single("aiwriter_http_sent_bytes_total", "counter", "Bytes written to clients.", String(server.bytesOut))
        single("aiwriter_http_protocol_errors_total", "counter", "Requests rejected by the HTTP codec (malformed, too large, timed out).", String(server.protocolErrors))
        single("aiwriter_http_timeouts_total", "counter", "Connections closed by a header, body, idle or send timeout.", String(server.timeouts))
        single("aiwriter_tls_handshakes_total", "counter", "Completed TLS handshakes.", String(server.tlsHandshakes))
        single("aiwriter_tls_resumptions_total", "counter", "TLS handshakes that resumed a session (ticket or cache).", String(server.tlsResumed))
        out += "# HELP aiwriter_tls_protocol_handshakes_total Completed TLS handshakes by negotiated protocol version.\n# TYPE aiwriter_tls_protocol_handshakes_total counter\n"
        out += "aiwriter_tls_protocol_handshakes_total{version=\"1.2\"} \(server.tls12)\naiwriter_tls_protocol_handshakes_total{version=\"1.3\"} \(server.tls13)\n"
        out += "# HELP aiwriter_tls_handshake_failures_total Failed TLS handshakes by reason.\n# TYPE aiwriter_tls_handshake_failures_total counter\n"
        for reason in HTTPLoopStats.tlsFailureReasons {
            out += "aiwriter_tls_handshake_failures_total{reason=\"\(reason)\"} \(server.tlsFailures[reason] ?? 0)\n"
        }
        single("aiwriter_draining", "gauge", "1 while the server drains before exiting.", draining ? "1" : "0")
        single("process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch in seconds.", String(startTime))
        if let rss = GatewayMetrics.residentMemoryBytes() {
            single("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", String(rss))
        }
        return out
    }

    func formatSeconds(_ nanos: UInt64) -> String {
        let s = Double(nanos) / 1e9
        var text = String(s)
        if text.hasSuffix(".0") { text.removeLast(2) }
        return text
    }

    func escape(_ label: String) -> String {
        var out = ""
        for c in label {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
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
