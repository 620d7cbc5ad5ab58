import ArgumentParser
import Gateway

/// `aiwriter config print`: the effective configuration and where each value came from.
struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect the configuration.",
        subcommands: [Print.self]
    )

    struct Print: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the effective configuration (secrets masked).", discussion: ConfigurationOptions.discussionText)

        @OptionGroup var options: ConfigurationOptions

        @Flag(help: "Print JSON instead of a table.")
        var json = false

        func run() throws {
            let (_, entries) = try options.load()
            if json {
                var w = JSONWriter()
                w.raw("{")
                for (i, e) in entries.enumerated() {
                    if i > 0 { w.raw(",") }
                    w.string(e.key)
                    w.raw(":{\"value\":")
                    w.string(e.value)
                    w.raw(",\"source\":")
                    w.string(e.source.rawValue)
                    w.raw("}")
                }
                w.raw("}")
                print(String(decoding: w.bytes, as: UTF8.self))
                return
            }
            let width = entries.map(\.key.count).max() ?? 0
            let valueWidth = entries.map(\.value.count).max() ?? 0
            for e in entries {
                let key = e.key.padding(toLength: width, withPad: " ", startingAt: 0)
                let value = e.value.padding(toLength: valueWidth, withPad: " ", startingAt: 0)
                print("\(key)  \(value)  (\(e.source.rawValue))")
            }
        }
    }
}
