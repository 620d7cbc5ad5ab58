import Foundation

/// The AI proxy's settings: keys `ai-providers`, `ai-models` (structured: YAML lists of
/// mappings in a file, JSON text in `AIWRITER_AI_PROVIDERS` / a flag), `ai-first-byte-timeout`,
/// `ai-connect-timeout`, `ai-idle-timeout`, `ai-total-timeout`, `ai-max-retry-wait`,
/// `ai-breaker-failures`, `ai-breaker-cooldown`, `ai-cache`, `ai-cache-ttl`, `ai-cache-max-bytes`,
/// `ai-cache-store`, `ai-semantic-model`, `ai-semantic-threshold` and `ai-semantic-max-prompts` in the one configuration table.
///
/// Secrets never live here: a provider names the environment variable (`api-key-env`) or the
/// file (`api-key-file`) its key is read from when the gateway starts.
public struct AIProxyConfiguration: Sendable, Equatable {
    public struct Provider: Sendable, Equatable, Decodable {
        public enum Kind: String, Sendable, Decodable { case openai, anthropic }
        public var name: String
        public var kind: Kind
        /// Everything before `/chat/completions`, e.g. `https://api.openai.com/v1`.
        public var baseURL: String
        public var apiKeyEnv: String?
        public var apiKeyFile: String?
        /// Whether the proxy may add `stream_options.include_usage` to a stream it sends here
        /// (some OpenAI-compatible servers refuse the field).
        public var streamUsage: Bool?

        enum CodingKeys: String, CodingKey {
            case name, kind, baseURL = "base-url", apiKeyEnv = "api-key-env", apiKeyFile = "api-key-file", streamUsage = "stream-usage"
        }
    }

    public struct Model: Sendable, Equatable, Decodable {
        public var name: String
        /// `provider/upstream-model`, tried in order.
        public var targets: [String]
    }

    public enum CacheMode: String, Sendable { case off, exact, semantic }
    public enum CacheStore: String, Sendable { case auto, local, redis }

    public var providers: [Provider] = []
    public var models: [Model] = []
    public var connectTimeoutMs: UInt64 = 5_000
    public var firstByteTimeoutMs: UInt64 = 30_000
    public var idleTimeoutMs: UInt64 = 60_000
    public var totalTimeoutMs: UInt64 = 600_000
    /// The longest `Retry-After` the proxy waits out itself before retrying the last target.
    public var maxRetryWaitMs: UInt64 = 2_000
    /// Consecutive failures that open a target's circuit, and how long it stays open.
    public var breakerFailures = 5
    public var breakerCooldownMs: UInt64 = 30_000
    public var cache = CacheMode.off
    /// How long a cached answer is replayed, and the bytes all of them may hold.
    public var cacheTTLMs: UInt64 = 3_600_000
    public var cacheMaximumBytes = 64 << 20
    /// Where exact answers are kept: Redis when `redis-url` is set (`auto`), or as told.
    public var cacheStore = CacheStore.auto
    /// The entry of `models` whose embeddings the semantic cache compares prompts by.
    public var semanticModel = ""
    /// The least cosine similarity at which a kept prompt is a candidate (its signature must
    /// also match: `PromptSignature`).
    public var semanticThreshold = 0.85
    /// Prompts kept per semantic scope (tenant, model, system prompt and parameters).
    public var semanticMaximumPerScope = 10_000

    public init() {}

    /// Checks the cross-references: unique names, targets naming known providers.
    public func validated() throws(ConfigurationLoader.ConfigurationError) -> AIProxyConfiguration {
        var names = Set<String>()
        for provider in providers {
            guard !provider.name.isEmpty, !provider.name.contains("/") else {
                throw .init(description: "ai-providers: a provider's name must be non-empty and hold no '/'")
            }
            guard names.insert(provider.name).inserted else { throw .init(description: "ai-providers: '\(provider.name)' is named twice") }
            guard let url = URL(string: provider.baseURL), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
                throw .init(description: "ai-providers: '\(provider.name)' base-url must be an http or https URL")
            }
        }
        var modelNames = Set<String>()
        for model in models {
            guard !model.name.isEmpty else { throw .init(description: "ai-models: a model's name must be non-empty") }
            guard modelNames.insert(model.name).inserted else { throw .init(description: "ai-models: '\(model.name)' is named twice") }
            guard !model.targets.isEmpty else { throw .init(description: "ai-models: '\(model.name)' has no targets") }
            for target in model.targets {
                guard let slash = target.firstIndex(of: "/"), names.contains(String(target[..<slash])),
                      target.index(after: slash) < target.endIndex else {
                    throw .init(description: "ai-models: '\(model.name)' target '\(target)' must be provider/model with a provider of ai-providers")
                }
            }
        }
        if cache == .semantic {
            guard !semanticModel.isEmpty else { throw .init(description: "ai-cache semantic needs ai-semantic-model: the ai-models entry that embeds prompts") }
            guard modelNames.contains(semanticModel) else { throw .init(description: "ai-semantic-model: '\(semanticModel)' is not in ai-models") }
        }
        return self
    }

    /// Parses a structured key's JSON text (what the file's YAML or JSON became).
    static func decode<T: Decodable>(_ type: T.Type, _ text: String, key: String) throws -> T {
        let result = Array(text.utf8).withUnsafeBytes { bytes in Result { () throws(GatewayError) -> T in try JSONBody.decode(type, from: bytes) } }
        switch result {
        case .success(let value): return value
        case .failure(let error): throw ConfigurationLoader.ConfigurationError(description: "\(key): \(error.message)")
        }
    }

    static func encodeProviders(_ providers: [Provider]) -> String {
        var w = JSONWriter()
        w.raw("[")
        for (i, p) in providers.enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("{\"name\":"); w.string(p.name)
            w.raw(",\"kind\":"); w.string(p.kind.rawValue)
            w.raw(",\"base-url\":"); w.string(p.baseURL)
            if let e = p.apiKeyEnv { w.raw(",\"api-key-env\":"); w.string(e) }
            if let f = p.apiKeyFile { w.raw(",\"api-key-file\":"); w.string(f) }
            if let s = p.streamUsage { w.raw(",\"stream-usage\":"); w.bool(s) }
            w.raw("}")
        }
        w.raw("]")
        return String(decoding: w.bytes, as: UTF8.self)
    }

    static func encodeModels(_ models: [Model]) -> String {
        var w = JSONWriter()
        w.raw("[")
        for (i, m) in models.enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("{\"name\":"); w.string(m.name)
            w.raw(",\"targets\":[")
            for (j, t) in m.targets.enumerated() {
                if j > 0 { w.raw(",") }
                w.string(t)
            }
            w.raw("]}")
        }
        w.raw("]")
        return String(decoding: w.bytes, as: UTF8.self)
    }
}
