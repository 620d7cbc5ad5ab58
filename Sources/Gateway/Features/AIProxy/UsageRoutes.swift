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

    /// "2026-12-02" as days since 1970.
    static func day(_ text: String?, _ name: String) throws(GatewayError) -> Int64? {
        guard let text else { return nil }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int64(parts[0]), let m = Int64(parts[1]), let d = Int64(parts[2]),
              (1970...9999).contains(y), (1...12).contains(m), (1...CivilDate.daysIn(month: m, year: y)).contains(d) else {
            throw GatewayError(.badRequest, "invalid_request", "\(name) must be a date such as 2026-12-02")
        }
        return CivilDate.days(year: y, month: m, day: d)
    }

    /// Days since 1970 as "YYYY-MM-DD".
    static func date(_ days: Int64) -> String {
        let (y, m, d) = CivilDate.date(days)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(y)-\(two(m))-\(two(d))"
    }
}
