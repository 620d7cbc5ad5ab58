import ArgumentParser
import Gateway
import Logging

/// `aiwriter worker`: runs generation jobs, no HTTP front door, until SIGTERM/SIGINT.
struct Worker: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run generation-job workers without the HTTP front door (jobs-workers of them).",
        discussion: ConfigurationOptions.discussionText)

    @OptionGroup var options: ConfigurationOptions

    func run() throws {
        let (configuration, _) = try options.load()
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
        let logger = Logger(label: "aiwriter.worker")
        guard configuration.jobs.workers > 0 else {
            logger.critical("jobs-workers is 0: a worker process with no slots would do nothing")
            throw ExitCode(1)
        }
        let process: JobWorkerProcess
        do {
            process = try JobWorkerProcess(configuration: configuration, logger: logger)
        } catch {
            logger.critical("cannot start", metadata: ["error": .string("\(error)")])
            throw ExitCode(1)
        }
        process.start()
        process.wait()
        logger.info("stopped")
    }
}
