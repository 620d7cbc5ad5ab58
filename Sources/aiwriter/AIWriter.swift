import ArgumentParser
#if AIWRITER_JEMALLOC
import CJemalloc // links jemalloc as the process allocator
#endif

@main
struct AIWriter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aiwriter",
        abstract: "The AI-Writer gateway: documents, embedding search and an AI proxy behind one HTTP front door.",
        subcommands: [Serve.self, Worker.self, Config.self, Migrate.self, BackupCommand.self, RestoreCommand.self, Keys.self, Healthcheck.self],
        defaultSubcommand: Serve.self
    )
}
