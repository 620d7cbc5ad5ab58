import Net
import Storage

/// `GET /v1/usage?since=YYYY-MM-DD&until=YYYY-MM-DD[&key_id=…]`: the tenant's AI calls by UTC
/// day, key and model — requests, prompt and completion tokens, cache hits, errors. `until` is
/// inclusive; the default is the last 7 days. An admin key sees every key of its tenant (or one,
/// with `key_id`); any other key sees its own calls only. Our error shape.
enum UsageRoutes {
    static let dayMs: Int64 = 86_400_000

    static func register(on router: RouterBuilder, store: Store) {
        router.get("/v1/usage", .role(.reader)) { context in
            let today = Store.now / dayMs
            let since: Int64
            let until: Int64
            do throws(GatewayError) {
                since = try day(context.request.query("since"), "since") ?? today - 6
                until = try day(context.request.query("until"), "until") ?? today
            } catch { return context.send(error) }
            guard since <= until, until - since <= 366 else {
                return context.send(GatewayError(.badRequest, "invalid_request", "since must not be after until, and the range is at most 366 days"))
            }
            let caller = context.caller
            let keyID = caller.allows(.admin) ? context.request.query("key_id") : caller.keyID
            let answer = { @Sendable () async throws(GatewayError) -> [UInt8] in
                let rows: [UsageSummary]
                do throws(StoreError) {
                    rows = try await store.usageSummary(tenantID: caller.tenantID, since: since * dayMs, until: (until + 1) * dayMs,
                                                        keyID: keyID, on: context.loop)
                } catch { throw GatewayError(error) }
                var w = JSONWriter()
                w.raw("{\"object\":\"list\",\"since\":"); w.string(date(since))
                w.raw(",\"until\":"); w.string(date(until))
                w.raw(",\"data\":[")
                for (i, row) in rows.enumerated() {
                    if i > 0 { w.raw(",") }
                    w.raw("{\"date\":"); w.string(date(row.day))
                    w.raw(",\"key_id\":"); if let k = row.keyID { w.string(k) } else { w.raw("null") }
                    w.raw(",\"model\":"); if let m = row.model { w.string(m) } else { w.raw("null") }
                    w.raw(",\"requests\":"); w.raw(String(row.requests))
                    w.raw(",\"prompt_tokens\":"); w.raw(String(row.promptTokens))
                    w.raw(",\"completion_tokens\":"); w.raw(String(row.completionTokens))
                    w.raw(",\"total_tokens\":"); w.raw(String(row.promptTokens + row.completionTokens))
                    w.raw(",\"cache_hits\":"); w.raw(String(row.cacheHits))
                    w.raw(",\"errors\":"); w.raw(String(row.errors))
                    w.raw("}")
                }
                w.raw("]}\n")
                return w.bytes
            }
            context.loop.spawn {
                do throws(GatewayError) { context.sendJSON(try await answer()) } catch { context.send(error) }
            }
        }
    }

    /// "2026-12-02" as days since 1970 (proleptic Gregorian, Hinnant's days_from_civil).
    static func day(_ text: String?, _ name: String) throws(GatewayError) -> Int64? {
        guard let text else { return nil }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y0 = Int64(parts[0]), let m = Int64(parts[1]), let d = Int64(parts[2]),
              (1970...9999).contains(y0), (1...12).contains(m), (1...daysIn(m, y0)).contains(d) else {
            throw GatewayError(.badRequest, "invalid_request", "\(name) must be a date such as 2026-12-02")
        }
        let y = m <= 2 ? y0 - 1 : y0
        let era = y / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func daysIn(_ m: Int64, _ y: Int64) -> Int64 {
        switch m {
        case 2: return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970 as "YYYY-MM-DD" (Hinnant's civil_from_days).
    static func date(_ days: Int64) -> String {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(y)-\(two(m))-\(two(d))"
    }
}
