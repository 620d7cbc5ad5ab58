import Net
import Synchronization
import VectorIndex

/// Answers found by what a prompt means, not by its bytes (`ai-cache: semantic`): for each
/// scope — tenant, model, answer shape and the whole request except the last user message's
/// text (so the system prompt, the parameters, tools and response format all match exactly) —
/// an HNSW index of the embeddings of prompts answered before. A lookup takes the nearest
/// prompts above `ai-semantic-threshold` and accepts the first whose `PromptSignature` equals
/// the new prompt's; the answer itself stays in the exact cache (`AnswerStore`: this process or
/// Redis) under the original request's key, so its TTL, size bound and eviction are the exact
/// cache's, and an entry whose answer is gone is dropped when a lookup meets it.
///
/// Single-turn only by default: a conversation's last message means what the turns before it
/// make it mean, and those are matched exactly as part of the scope anyway.
final class SemanticCache: Sendable {
    /// What must match exactly for two prompts to be compared at all.
    struct Scope: Hashable, Sendable {
        let digest: [UInt8]
    }

    /// One prompt answered before.
    struct Entry {
        let signature: PromptSignature
        let answer: CacheKey
    }

    /// One scope's index; its lock is the shard's.
    final class Prompts {
        let index: HNSWIndex
        var entries: [UInt64: Entry] = [:]
        /// Ids in insertion order, for dropping the oldest when the scope is full.
        var order: [UInt64] = []
        var orderStart = 0
        var nextID: UInt64 = 1
        /// The shard's clock when this scope was last looked up or written: the oldest scope is
        /// dropped first when the shard holds too many.
        var used: UInt64 = 0

        init(dimension: Int) throws(VectorIndexError) {
            // Most scopes hold a handful of prompts: start small, the index grows by doubling.
            index = try HNSWIndex(dimension: dimension, metric: .cosine,
                                  parameters: HNSWParameters(m: 16, efConstruction: 100, defaultEf: 64, initialCapacity: 8))
        }
    }

    final class Shard: Sendable {
        // The prompts of a shard's scopes are only touched under this lock.
        struct State: @unchecked Sendable {
            var scopes: [Scope: Prompts] = [:]
            var clock: UInt64 = 0
        }
        let state = Mutex(State())
    }

    let shards: [Shard]
    let threshold: Float
    /// Prompts one scope keeps; the oldest go first.
    let maximumPerScope: Int
    /// Scopes one shard keeps (sixteen shards): every distinct system prompt or parameter set
    /// is a scope, so without a bound a client varying them could make an index per request.
    let maximumScopesPerShard: Int
    /// Nearest prompts compared with the signature before a lookup gives up.
    static let candidates = 8

    init(threshold: Double, maximumPerScope: Int, maximumScopes: Int = 16_384) {
        shards = (0..<16).map { _ in Shard() }
        self.threshold = Float(threshold)
        self.maximumPerScope = max(1, maximumPerScope)
        maximumScopesPerShard = max(1, maximumScopes / 16)
    }

    func shard(_ scope: Scope) -> Shard { shards[Int(scope.digest[0] & 15)] }

    /// The nearest kept prompt that means the same as this one — above the threshold, with an
    /// equal signature — and the exact-cache key of its answer.
    func lookup(_ scope: Scope, vector: [Float], signature: PromptSignature) -> (id: UInt64, answer: CacheKey)? {
        shard(scope).state.withLock { s -> (id: UInt64, answer: CacheKey)? in
            guard let prompts = s.scopes[scope], prompts.index.dimension == vector.count,
                  let found = try? prompts.index.search(vector, k: SemanticCache.candidates) else { return nil }
            s.clock += 1
            prompts.used = s.clock
            for result in found where 1 - result.distance >= threshold {
                if let entry = prompts.entries[result.id], entry.signature == signature { return (result.id, entry.answer) }
            }
            return nil
        }
    }

    /// Drops a prompt whose answer the exact cache no longer holds.
    func forget(_ scope: Scope, id: UInt64) {
        shard(scope).state.withLock { s in
            guard let prompts = s.scopes[scope], prompts.entries.removeValue(forKey: id) != nil else { return }
            _ = prompts.index.remove(id: id)
        }
    }

    func insert(_ scope: Scope, vector: [Float], signature: PromptSignature, answer: CacheKey) {
        guard !vector.isEmpty else { return }
        shard(scope).state.withLock { s in
            let prompts: Prompts
            if let existing = s.scopes[scope], existing.index.dimension == vector.count {
                prompts = existing
            } else {
                // A scope's first prompt, or an embedding model whose dimension changed.
                guard let made = try? Prompts(dimension: vector.count) else { return }
                prompts = made
                if s.scopes[scope] == nil, s.scopes.count >= maximumScopesPerShard,
                   let oldest = s.scopes.min(by: { $0.value.used < $1.value.used })?.key {
                    // A scan, but only when a new scope arrives at a full shard.
                    s.scopes[oldest] = nil
                }
                s.scopes[scope] = made
            }
            s.clock += 1
            prompts.used = s.clock
            let id = prompts.nextID
            prompts.nextID += 1
            guard (try? prompts.index.add(id: id, vector: vector)) != nil else { return }
            prompts.entries[id] = Entry(signature: signature, answer: answer)
            prompts.order.append(id)
            while prompts.entries.count > maximumPerScope, prompts.orderStart < prompts.order.count {
                let oldest = prompts.order[prompts.orderStart]
                prompts.orderStart += 1
                if prompts.entries.removeValue(forKey: oldest) != nil { _ = prompts.index.remove(id: oldest) }
            }
            if prompts.orderStart > 1024, prompts.orderStart * 2 > prompts.order.count {
                prompts.order.removeFirst(prompts.orderStart)
                prompts.orderStart = 0
            }
        }
    }

    var count: Int { shards.reduce(0) { total, shard in total + shard.state.withLock { $0.scopes.values.reduce(0) { $0 + $1.entries.count } } } }
}

extension SemanticCache {
    /// The prompt a single-turn chat request asks about — its one user message's text — and
    /// the scope it is compared within; nil when the request is not single-turn or its message
    /// is not text.
    static func prompt(of request: AIRequest, tenantID: String) -> (text: String, scope: Scope)? {
        guard request.kind == .chat, case .array(let messages)? = request.object["messages"] else { return nil }
        var userIndex: Int?
        for (i, message) in messages.enumerated() {
            guard case .object(let m) = message, case .string(let role)? = m["role"] else { return nil }
            switch role {
            case "system", "developer": continue
            case "user" where userIndex == nil: userIndex = i
            default: return nil
            }
        }
        guard let userIndex, case .object(var user) = messages[userIndex] else { return nil }
        var text = ""
        switch user["content"] {
        case .string(let s)?: text = s
        case .array(let parts)?:
            for part in parts {
                guard case .object(let p) = part, p["type"] == .string("text"), case .string(let t)? = p["text"] else { return nil }
                if !text.isEmpty { text += "\n" }
                text += t
            }
        default: return nil
        }
        guard !text.isEmpty else { return nil }
        // The scope is the request with the prompt's text taken out.
        user.set("content", .null)
        var rest = request.object
        var others = messages
        others[userIndex] = .object(user)
        rest.set("messages", .array(others))
        var w = JSONWriter(capacity: 256)
        w.raw(request.stream ? "semantic\u{0}stream\u{0}" : "semantic\u{0}whole\u{0}")
        w.raw(tenantID)
        w.raw("\u{0}")
        CacheKey.canonical(.object(rest), top: true, into: &w)
        return (text, Scope(digest: w.bytes.withUnsafeBytes { Digests.sha256($0) }))
    }
}
