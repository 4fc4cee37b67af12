import ArgumentParser
import OpsCore

/// `opscore init`: writes `<ns>:meta` (layout 2) unless it exists.
struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create the namespace's meta hash (layout 2); a no-op when it exists.",
        discussion: """
            Any first write creates it too, with events_maxlen 10000; run init first to choose \
            another retention. Prints the meta as it is in Redis.

            Example: opscore init --events-maxlen 100000
            """)
    @OptionGroup var global: GlobalOptions
    @Option(name: .customLong("events-maxlen"), help: "About how many events each partition's stream keeps.")
    var eventsMaxLength: Int = KeySpaceMeta.defaultEventsMaxLength

    func run() throws {
        guard eventsMaxLength > 0 && eventsMaxLength <= 100_000_000 else {
            throw CommandFailure.usage("invalid --events-maxlen: use 1 to 100000000")
        }
        let (lifecycle, _) = try global.lifecycle()
        let meta = try lifecycle.store.createMeta(eventsMaxLength: eventsMaxLength)
        Output.result(
            global.outputFormat,
            json: ["layout": .integer(Int64(meta.layout)), "partitions": .integer(Int64(meta.partitions)), "events_maxlen": .integer(Int64(meta.eventsMaxLength))],
            text: "layout \(meta.layout), \(meta.partitions) partitions, events_maxlen \(meta.eventsMaxLength)")
    }
}
