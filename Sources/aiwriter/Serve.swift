import ArgumentParser
import Gateway
import Logging

/// `aiwriter serve`: runs the gateway until SIGTERM/SIGINT.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway.", discussion: ConfigurationOptions.discussionText)

    @OptionGroup var options: ConfigurationOptions

    func run() throws {
        let (configuration, _) = try options.load()
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
        let logger = Logger(label: "aiwriter")
        let gateway: GatewayServer
        do {
            gateway = try GatewayServer(configuration: configuration, logger: logger)
            try gateway.start()
        } catch {
            logger.critical("cannot start", metadata: ["error": .string("\(error)")])
            throw ExitCode(1)
        }
        gateway.wait()
        logger.info("stopped")
    }
}
