import ArgumentParser
import Foundation
import Gateway

/// The configuration flags shared by `serve`, `config print`, `migrate`, `backup`, `restore`
/// and `keys`. They are not declared here one by one: every `--KEY VALUE` (or `--KEY=VALUE`)
/// is looked up in `ConfigurationLoader`'s key table — the one declaration of a key, which
/// also gives its file name, its `AIWRITER_*` variable, its parser, default and help — and a
/// flag wins over both. An unknown flag is an error naming the known keys.
struct ConfigurationOptions: ParsableArguments {
    static let discussionText = "Configuration keys (as --KEY VALUE, AIWRITER_KEY, or KEY: in the file; flags win):\n"
        + ConfigurationLoader.keyHelp

    @Option(help: "A JSON or YAML configuration file (default: $AIWRITER_CONFIG).")
    var config: String?

    @Argument(parsing: .allUnrecognized, help: .hidden)
    var configurationFlags: [String] = []

    func validate() throws {
        _ = try flags()
    }

    /// `--key value` and `--key=value` pairs, checked against the key table.
    func flags() throws -> [String: String] {
        do {
            return try ConfigurationLoader.parseFlags(configurationFlags)
        } catch let error as ConfigurationLoader.ConfigurationError {
            throw ValidationError(error.description)
        }
    }

    func load() throws -> (GatewayConfiguration, [ConfigurationLoader.Entry]) {
        do {
            return try ConfigurationLoader.load(file: config, environment: ProcessInfo.processInfo.environment, flags: try flags())
        } catch let error as ConfigurationLoader.ConfigurationError {
            throw ValidationError(error.description)
        }
    }
}
