import Foundation

/// The model names clients may send, each with its targets resolved against the providers and
/// the providers' API keys read once at start (from the variable or file the configuration
/// names; the key itself is never logged or printed).
final class ModelTable: Sendable {
    struct Provider: Sendable {
        let name: String
        let kind: AIProxyConfiguration.Provider.Kind
        /// The base URL without a trailing slash.
        let baseURL: String
        let apiKey: String?
        let streamUsage: Bool
    }

    struct Target: Sendable {
        /// Position among every model's targets: the index of its circuit breaker.
        let index: Int
        /// `provider/upstream-model`, as configured.
        let name: String
        let provider: Provider
        let upstreamModel: String
    }

    let names: [String]
    let models: [String: [Target]]
    let targetCount: Int
    /// Seconds since 1970 when the table was made: the models' `created`.
    let created: Int

    init(_ configuration: AIProxyConfiguration, environment: [String: String]) throws(ConfigurationLoader.ConfigurationError) {
        var providers: [String: Provider] = [:]
        for p in configuration.providers {
            var key: String?
            if let variable = p.apiKeyEnv {
                guard let value = environment[variable], !value.isEmpty else {
                    throw .init(description: "ai-providers: '\(p.name)' reads its API key from \(variable), which is not set")
                }
                key = value
            } else if let file = p.apiKeyFile {
                guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
                    throw .init(description: "ai-providers: '\(p.name)' cannot read its API key file \(file)")
                }
                key = text.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            var base = p.baseURL
            while base.hasSuffix("/") { base.removeLast() }
            providers[p.name] = Provider(name: p.name, kind: p.kind, baseURL: base, apiKey: key, streamUsage: p.streamUsage ?? true)
        }
        var models: [String: [Target]] = [:]
        var count = 0
        for model in configuration.models {
            models[model.name] = model.targets.map { target in
                let slash = target.firstIndex(of: "/")!
                defer { count += 1 }
                return Target(index: count, name: target, provider: providers[String(target[..<slash])]!,
                              upstreamModel: String(target[target.index(after: slash)...]))
            }
        }
        names = configuration.models.map(\.name)
        self.models = models
        targetCount = count
        created = Int(Date().timeIntervalSince1970)
    }
}
