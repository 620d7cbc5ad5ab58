import Foundation
import Net
import Testing
@testable import Gateway

/// The semantic cache's parts that need no upstream: what must match besides the embedding
/// (`PromptSignature`), what a prompt is compared within (its scope), and the index's
/// lookups, eviction and dead answers. Real embeddings through the proxy are tested with the
/// `openai` client (Tests/python/openai_client_test.py) and measured on labeled pairs
/// (Benchmarks/semantic/measure.py).
@Suite("Semantic cache")
struct SemanticCacheTests {
    func same(_ a: String, _ b: String) -> Bool { PromptSignature(a) == PromptSignature(b) }

    @Test("what cannot change the answer is ignored", arguments: [
        ("Write a blog post about healthy breakfast ideas", "write a blog post about healthy breakfast ideas, please!"),
        ("Write a poem about the sea", "Compose a poem on the ocean"),
        ("Summarise the plot of Moby Dick", "Give me a summary of the plot of Moby-Dick"),
        ("Give me ideas for a party for a ten year old", "Suggest party ideas for a 10-year-old"),
        ("Explain how photosynthesis works", "How does photosynthesis work?"),
        ("Write a short bio", "Write a brief bio"),
        ("Write about my sister’s wedding", "Write about my sister's wedding"),
    ])
    func paraphrasesShareASignature(_ a: String, _ b: String) {
        #expect(same(a, b), "\(PromptSignature(a).words) vs \(PromptSignature(b).words)")
    }

    @Test("what decides the answer must match", arguments: [
        ("Write a blog post about healthy breakfast ideas", "Write a blog post about unhealthy breakfast ideas"),
        ("Write a story about a dragon who is afraid of fire", "Write a story about a dragon who is not afraid of fire"),
        ("Write a poem that rhymes", "Write a poem that doesn't rhyme"),
        ("Write a poem that rhymes", "Write a poem that doesn’t rhyme"),
        ("Write a recipe with eggs", "Write a recipe without eggs"),
        ("Summarize it in three sentences", "Summarize it in three hundred words"),
        ("Give me 5 tips", "Give me 10 tips"),
        ("Give me five tips", "Give me 50 tips"),
        ("Write 2.5 pages", "Write 25 pages"),
        ("Translate this from English to French", "Translate this from French to English"),
        ("Write a haiku about autumn", "Write a sonnet about autumn"),
        ("Write a tweet in Spanish", "Write a tweet in German"),
        ("Argue for the policy", "Argue against the policy"),
        ("Write a story about cats", "Write a story about dogs"),
        ("Describe Paris", "Describe Paris in bullet points"),
        ("Erkläre Photosynthese", "Erkläre Atmung"),
    ])
    func decisiveWordsMustMatch(_ a: String, _ b: String) {
        #expect(!same(a, b), "\(PromptSignature(a).words)")
    }

    @Test func numbersAreValuesAndTokensSplitOnDigits() {
        #expect(PromptSignature("ten").words == ["10"])
        #expect(PromptSignature("three hundred").words == ["300"])
        #expect(PromptSignature("010 and 10.0").words == ["10", "10"])
        #expect(PromptSignature("300words").words == ["300", "word"])
        #expect(PromptSignature("").words.isEmpty)
        #expect(PromptSignature("don't").words == ["not"])
        // Broken or unusual input never traps.
        _ = PromptSignature(String(decoding: [0xE2, 0x80] as [UInt8], as: UTF8.self))
        _ = PromptSignature("n'")
        _ = PromptSignature(String(repeating: "nine ", count: 1000) + "hundred thousand million")
    }

    func chat(_ messages: String, extra: String = "") throws -> AIRequest {
        try AIRequest.parse(body: Array(#"{"model":"w","temperature":0\#(extra),"messages":\#(messages)}"#.utf8), kind: .chat)
    }

    @Test func theScopeIsTheRequestWithoutThePrompt() throws {
        let a = try chat(#"[{"role":"system","content":"Be terse."},{"role":"user","content":"Write a poem"}]"#)
        let b = try chat(#"[{"role":"system","content":"Be terse."},{"role":"user","content":"Compose a poem"}]"#)
        let otherSystem = try chat(#"[{"role":"system","content":"Be verbose."},{"role":"user","content":"Write a poem"}]"#)
        let otherParameters = try chat(#"[{"role":"system","content":"Be terse."},{"role":"user","content":"Write a poem"}]"#, extra: #","max_tokens":9"#)
        let pa = try #require(SemanticCache.prompt(of: a, tenantID: "t"))
        let pb = try #require(SemanticCache.prompt(of: b, tenantID: "t"))
        #expect(pa.text == "Write a poem" && pa.scope == pb.scope)
        #expect(SemanticCache.prompt(of: otherSystem, tenantID: "t")!.scope != pa.scope)
        #expect(SemanticCache.prompt(of: otherParameters, tenantID: "t")!.scope != pa.scope)
        #expect(SemanticCache.prompt(of: a, tenantID: "u")!.scope != pa.scope)
        let parts = try chat(#"[{"role":"user","content":[{"type":"text","text":"Write"},{"type":"text","text":"a poem"}]}]"#)
        #expect(SemanticCache.prompt(of: parts, tenantID: "t")?.text == "Write\na poem")
        // Conversations and images are matched exactly or not at all.
        let turns = try chat(#"[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"},{"role":"user","content":"Write a poem"}]"#)
        #expect(SemanticCache.prompt(of: turns, tenantID: "t") == nil)
        let image = try chat(#"[{"role":"user","content":[{"type":"image_url","image_url":{"url":"http://x"}}]}]"#)
        #expect(SemanticCache.prompt(of: image, tenantID: "t") == nil)
    }

    func key(_ n: Int) -> CacheKey {
        CacheKey(tenantID: "t", kind: .chat, stream: false, object: try! AIRequest.parse(body: Array(#"{"model":"w","messages":[{"role":"user","content":"\#(n)"}]}"#.utf8), kind: .chat).object)
    }

    func unit(_ values: [Float]) -> [Float] {
        let n = values.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return values.map { $0 / n }
    }

    @Test func lookupsNeedTheThresholdAndTheSignature() {
        let cache = SemanticCache(threshold: 0.9, maximumPerScope: 100)
        let scope = SemanticCache.Scope(digest: [1, 2, 3])
        let poem = PromptSignature("Write a poem about the sea")
        cache.insert(scope, vector: unit([1, 0, 0]), signature: poem, answer: key(1))
        let found = cache.lookup(scope, vector: unit([1, 0.1, 0]), signature: PromptSignature("Compose a poem on the ocean"))
        #expect(found?.answer == key(1))
        #expect(cache.lookup(scope, vector: unit([1, 0.1, 0]), signature: PromptSignature("Write a poem about the desert")) == nil)
        #expect(cache.lookup(scope, vector: unit([1, 1, 0]), signature: poem) == nil, "cosine 0.71 is below 0.9")
        #expect(cache.lookup(SemanticCache.Scope(digest: [9]), vector: unit([1, 0, 0]), signature: poem) == nil)
        #expect(cache.lookup(scope, vector: unit([1, 0]), signature: poem) == nil, "another dimension")
        // An answer the exact cache has dropped takes its prompt with it.
        cache.forget(scope, id: found!.id)
        #expect(cache.lookup(scope, vector: unit([1, 0, 0]), signature: poem) == nil)
        #expect(cache.count == 0)
    }

    @Test func aFullScopeDropsItsOldestPrompts() {
        let cache = SemanticCache(threshold: 0.5, maximumPerScope: 3)
        let scope = SemanticCache.Scope(digest: [7])
        for i in 0..<5 {
            cache.insert(scope, vector: unit([1, Float(i), 0]), signature: PromptSignature("prompt \(i)"), answer: key(i))
        }
        #expect(cache.count == 3)
        #expect(cache.lookup(scope, vector: unit([1, 0, 0]), signature: PromptSignature("prompt 0")) == nil)
        #expect(cache.lookup(scope, vector: unit([1, 4, 0]), signature: PromptSignature("prompt 4"))?.answer == key(4))
    }

    @Test func scopesAreBoundedOldestOut() {
        let cache = SemanticCache(threshold: 0.5, maximumPerScope: 10, maximumScopes: 16)
        // One shard (the digest's first byte picks it) takes one scope: the newest replaces the oldest.
        let a = SemanticCache.Scope(digest: [0, 1])
        let b = SemanticCache.Scope(digest: [16, 2])
        cache.insert(a, vector: unit([1, 0]), signature: PromptSignature("a"), answer: key(1))
        cache.insert(b, vector: unit([1, 0]), signature: PromptSignature("b"), answer: key(2))
        #expect(cache.lookup(a, vector: unit([1, 0]), signature: PromptSignature("a")) == nil)
        #expect(cache.lookup(b, vector: unit([1, 0]), signature: PromptSignature("b"))?.answer == key(2))
        #expect(cache.count == 1)
    }

    @Test func anEmbeddingAnswerGivesAUnitVector() {
        let v = PromptEmbedder.vector(Array(#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[3,4]}]}"#.utf8))
        #expect(v == [0.6, 0.8])
        #expect(PromptEmbedder.vector(Array(#"{"data":[{"embedding":[0,0]}]}"#.utf8)) == nil)
        #expect(PromptEmbedder.vector(Array(#"{"data":[{"embedding":"AAAA"}]}"#.utf8)) == nil)
        #expect(PromptEmbedder.vector(Array(#"{"data":[{"embedding":[1,"x"]}]}"#.utf8)) == nil)
        #expect(PromptEmbedder.vector(Array("not json".utf8)) == nil)
    }

    @Test func redisRecordsRoundTripAndRefuseDamage() throws {
        let whole = ExactCache.Answer.whole(status: 200, contentType: "application/json", body: Array(#"{"a":1}"#.utf8))
        let stream = ExactCache.Answer.stream([(Array("data: 1\n\n".utf8), false), (Array("data: u\n\n".utf8), true), ([], false)])
        for answer in [whole, stream] {
            let record = RedisAnswerCache.encode(answer, target: "p/m")
            let entry = try #require(RedisAnswerCache.decode(record))
            #expect(entry.target == "p/m")
            #expect(RedisAnswerCache.encode(entry.answer, target: entry.target) == record)
            // Every cut of a record is refused or still a whole record, never a trap.
            for n in 0..<record.count { _ = RedisAnswerCache.decode(Array(record.prefix(n))) }
        }
        let streamRecord = RedisAnswerCache.encode(stream, target: "x")
        #expect(RedisAnswerCache.decode(Array(streamRecord.dropLast())) == nil)
        #expect(RedisAnswerCache.decode(streamRecord + [0]) == nil)
        #expect(RedisAnswerCache.decode([2, 0, 0, 0]) == nil)
        #expect(RedisAnswerCache.decode([1, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF]) == nil)
        #expect(String(decoding: RedisAnswerCache.redisKey(key(1)), as: UTF8.self).count == 7 + 64)
    }

    @Test func semanticNeedsAnEmbeddingModel() throws {
        var c = AIProxyConfiguration()
        c.cache = .semantic
        #expect(throws: ConfigurationLoader.ConfigurationError.self) { try c.validated() }
        c.semanticModel = "nowhere"
        #expect(throws: ConfigurationLoader.ConfigurationError.self) { try c.validated() }
    }
}
