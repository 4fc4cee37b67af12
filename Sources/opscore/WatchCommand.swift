import ArgumentParser
import Foundation
import Logging
import OpsCore
import Redis
import Synchronization

/// `opscore watch`: prints session events from the durable feed as they commit.
struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Print session events, one per line, until interrupted.",
        discussion: """
            Events are read from the 16 partitions' streams: a watch that loses its connection resumes \
            where it was and misses nothing still retained. A position the streams have trimmed away \
            prints one {"type":"feed.gap",…} line for that partition (and a warning on stderr). Each \
            event is printed with its "stream_id". Exits 0 on SIGINT or SIGTERM.

            Example: opscore --format json watch --agent build-bot-1 --since 10m
            """)
    @OptionGroup var global: GlobalOptions
    @Option(name: .customLong("agent"), help: "Only events of this agent.") var agentID: String?
    @Option(name: .customLong("session"), help: "Only events of this session.") var sessionID: String?
    @Option(help: "Replay retained events from: beginning, an ISO-8601 time, or a duration such as 10m or 2h.") var since: String?

    func run() throws {
        let sessionFilter = try sessionID.map(SessionCommand.sessionID)
        let start = try since.map(Self.start) ?? .now
        let logger = try global.logger()
        let keys = try KeySpace(namespace: try global.resolvedNamespace())
        let reader = EventFeedReader(configuration: try global.redisConfiguration(), keys: keys, from: start)
        let stopped = Atomic<Bool>(false)
        let trap = SignalTrap { _, _ in stopped.store(true, ordering: .relaxed) }
        defer { withExtendedLifetime(trap) {} }
        let printer = EventPrinter(format: global.outputFormat, agent: agentID, session: sessionFilter)
        logger.info("watching", metadata: ["namespace": "\(keys.namespace)"])
        while !stopped.load(ordering: .relaxed) {
            for item in try reader.next() {
                switch item {
                case .event(let entry):
                    guard printer.print(entry) else { return }  // nobody reads our output any more
                case .gap(let partition, let firstKept):
                    logger.warning("events of partition \(KeySpace.partitionLabels[partition]) were trimmed before they were read; going on from \(firstKept)")
                    guard printer.printGap(partition: partition, firstKept: firstKept) else { return }
                case .disconnected(let error):
                    logger.warning("lost connection to Redis (\(error)); resuming where it was once it is back")
                case .reconnected:
                    logger.notice("reconnected to Redis; resuming from the last event read")
                }
            }
        }
    }

    /// `--since`: `beginning`, an ISO-8601 time, or a duration (`90s`, `10m`, `2h`, `1d`).
    static func start(_ text: String) throws -> EventFeedReader.Start {
        if text == "beginning" { return .beginning }
        if let time = Timestamp(iso8601: Array(text.utf8)) { return .time(time) }
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        if let unit = text.last, let seconds = units[unit], let count = Int64(text.dropLast()), count >= 0, count < 10_000_000 {
            return .ago(.seconds(count * seconds))
        }
        throw CommandFailure.usage("invalid --since '\(text)': use beginning, an ISO-8601 time (2026-11-25T12:00:00.000Z) or a duration such as 10m, 2h")
    }
}
