import Net
import Storage

/// `/v1/whoami`, `/v1/ping` (any key) and `/v1/admin/keys` (admin keys, within their tenant).
enum KeysFeature: GatewayFeature {
    static func register(on router: RouterBuilder, services: GatewayServices) {
        let store = services.store
        router.get("/v1/whoami", .role(.reader)) { request in
            let p = request.caller
            var w = JSONWriter()
            w.raw("{\"key_id\":"); w.string(p.keyID)
            w.raw(",\"tenant\":"); w.string(p.tenantID)
            w.raw(",\"role\":"); w.string(p.role.rawValue)
            w.raw(",\"limits\":{\"rate_per_second\":"); w.number(p.policy.ratePerSecond)
            w.raw(",\"burst\":"); w.number(Int(p.policy.burst))
            w.raw(",\"tokens_per_minute\":")
            if let tokens = p.tokensPerMinute { w.number(Int(tokens)) } else { w.raw("null") }
            w.raw("}}\n")
            request.sendJSON(w.bytes)
        }

        // The cheapest authenticated answer: what a client checks its key and limits with, and
        // the route the rate-limit benchmark measures against the unauthenticated /healthz.
        router.get("/v1/ping", .role(.reader)) { request in
            request.send(status: .ok, contentType: "text/plain; charset=utf-8", body: .staticString("ok"))
        }

        router.get("/v1/admin/keys", .role(.admin)) { request in
            store.keys(tenantID: request.caller.tenantID, on: request.loop) { result in
                switch result {
                case .failure(let error): request.send(error)
                case .success(let keys):
                    var w = JSONWriter()
                    w.raw("{\"keys\":[")
                    for (i, key) in keys.enumerated() {
                        if i > 0 { w.raw(",") }
                        write(key, secret: nil, into: &w)
                    }
                    w.raw("]}\n")
                    request.sendJSON(w.bytes)
                }
            }
        }

        router.post("/v1/admin/keys", .role(.admin)) { request in
            let input: NewKey
            do throws(GatewayError) { input = try JSONBody.decode(NewKey.self, from: request.request) } catch { return request.send(error) }
            let secret = APIKeySecret.generate()
            let key = APIKeyRecord(id: APIKeySecret.generateID(), tenantID: request.caller.tenantID, name: input.name,
                                   hash: APIKeySecret.sha256(secret), role: input.role, ratePerSecond: input.rate,
                                   burst: input.burst, tokensPerMinute: input.tokensPerMinute)
            store.createKey(key, on: request.loop) { result in
                switch result {
                case .failure(let error): request.send(error)
                case .success(let stored):
                    var w = JSONWriter()
                    write(stored, secret: secret, into: &w)
                    w.raw("\n")
                    request.sendJSON(status: .created, w.bytes)
                }
            }
        }

        router.delete("/v1/admin/keys/:id", .role(.admin)) { request in
            let id = request.parameter("id") ?? ""
            store.revokeKey(tenantID: request.caller.tenantID, id: id, on: request.loop) { result in
                switch result {
                case .failure(let error): request.send(error)
                case .success(let key):
                    var w = JSONWriter()
                    write(key, secret: nil, into: &w)
                    w.raw("\n")
                    request.sendJSON(w.bytes)
                }
            }
        }
    }

    static func write(_ key: APIKeyRecord, secret: String?, into w: inout JSONWriter) {
        w.raw("{\"id\":"); w.string(key.id)
        w.raw(",\"tenant\":"); w.string(key.tenantID)
        w.raw(",\"name\":"); w.string(key.name)
        w.raw(",\"role\":"); w.string(key.role.rawValue)
        w.raw(",\"rate_per_second\":"); if let r = key.ratePerSecond { w.number(r) } else { w.raw("null") }
        w.raw(",\"burst\":"); if let b = key.burst { w.number(Int(b)) } else { w.raw("null") }
        w.raw(",\"tokens_per_minute\":"); if let t = key.tokensPerMinute { w.number(Int(t)) } else { w.raw("null") }
        w.raw(",\"created_at\":"); w.number(Int(key.createdAt))
        w.raw(",\"revoked_at\":"); if let r = key.revokedAt { w.number(Int(r)) } else { w.raw("null") }
        if let secret { w.raw(",\"secret\":"); w.string(secret) }
        w.raw("}")
    }
}

/// The body of `POST /v1/admin/keys`, decoded by `JSONBody` (unknown fields and wrong types
/// are refused by name).
struct NewKey: Decodable {
    var name = "unnamed"
    var role = Role.reader
    var rate: Double?
    var burst: Int64?
    var tokensPerMinute: Int64?

    enum CodingKeys: String, CodingKey {
        case name, role, rate, burst
        case tokensPerMinute = "tokens_per_minute"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let name = try c.decodeIfPresent(String.self, forKey: .name) { self.name = name }
        if let text = try? c.decodeIfPresent(String.self, forKey: .role) {
            guard let role = Role(rawValue: text) else { throw NewKey.invalid(.role, "admin, writer or reader") }
            self.role = role
        } else if c.contains(.role), try !c.decodeNil(forKey: .role) {
            throw NewKey.invalid(.role, "admin, writer or reader")
        }
        if c.contains(.rate), try !c.decodeNil(forKey: .rate) {
            if let text = try? c.decode(String.self, forKey: .rate), let r = RateLimitPolicy.parseRate(text) { rate = r }
            else if let n = try? c.decode(Double.self, forKey: .rate), RateLimitPolicy.rateRange.contains(n) { rate = n }
            else { throw NewKey.invalid(.rate, "a number per second from 0.000001 to 10^12, or like \"100/s\"") }
        }
        burst = try NewKey.count(c, .burst)
        tokensPerMinute = try NewKey.count(c, .tokensPerMinute)
    }

    /// A whole number from 1 to 10^12 (beyond that Int64 conversions and GCRA arithmetic lose meaning).
    static func count(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> Int64? {
        guard c.contains(key), try !c.decodeNil(forKey: key) else { return nil }
        guard let n = try? c.decode(Int64.self, forKey: key), (1...1_000_000_000_000).contains(n) else {
            throw invalid(key, "a whole number from 1 to 10^12")
        }
        return n
    }

    static func invalid(_ key: CodingKeys, _ expected: String) -> GatewayError {
        GatewayError(.unprocessableContent, "invalid_request", "'\(key.stringValue)' must be \(expected)")
    }
}
