import ArgumentParser
import Foundation
import Logging
import OpsCore
import Redis

/// `opscore consume`: at-least-once processing of the event feed with a consumer group.
struct ConsumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume",
        abstract: "Run a command once per event, at least once, sharing the work with a consumer group.",
        discussion: """
            One group across the 16 partitions' streams, created on first use. COMMAND runs through \
            /bin/sh -c with the event JSON (with "stream_id") on stdin and OPSCORE_EVENT_TYPE, \
            OPSCORE_SESSION_ID, OPSCORE_EVENT_VERSION, OPSCORE_STREAM_ID in its environment. Exit 0 \
            acknowledges the event; anything else leaves it pending, to be delivered again after \
            --claim-after to any consumer of the group; when the --max-deliveries-th run fails too, the \
            event is copied to the partition's events:dead stream and acknowledged. SIGTERM/SIGINT: \
            finish the running command, acknowledge it, exit 0. Deduplicate with (session_id, version).

            Example: opscore consume --group billing --exec 'jq -c . >> events.log'
            """)
    @OptionGroup var global: GlobalOptions
    @Option(help: "The consumer group.") var group: String
    @Option(help: "This consumer's name in the group (default: host name and process id).") var consumer: String?
    @Option(help: "Where a new group starts: now or beginning.") var from: String = "now"
    @Option(name: .customLong("claim-after"), help: "Seconds an event stays pending before it is delivered again.") var claimAfter: Double = 60
    @Option(name: .customLong("max-deliveries"), help: "Failed runs after which an event is dead-lettered.") var maxDeliveries: Int = 10
    @Option(name: .customLong("exec"), help: "The command to run per event (through /bin/sh -c).") var command: String
    @Option(name: .customLong("metrics-port"), help: "Serve Prometheus metrics at http://<host>:PORT/metrics.") var metricsPort: Int?

    func run() throws {
        if let metricsPort { try MetricsEndpoint.start(port: metricsPort) }
        try ConsumerNames.checkName(group, flag: "--group")
        let consumerName = consumer ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())"
        try ConsumerNames.checkName(consumerName, flag: "--consumer")
        var settings = EventConsumer.Settings()
        switch from {
        case "now": settings.start = .now
        case "beginning": settings.start = .beginning
        default: throw CommandFailure.usage("invalid --from '\(from)': use now or beginning")
        }
        guard claimAfter > 0 && claimAfter < 86_400 else { throw CommandFailure.usage("invalid --claim-after: a positive number of seconds") }
        guard (1...1_000).contains(maxDeliveries) else { throw CommandFailure.usage("invalid --max-deliveries: use 1 to 1000") }
        guard !command.isEmpty else { throw CommandFailure.usage("--exec needs a command") }
        settings.claimAfter = .milliseconds(Int64(claimAfter * 1000))
        settings.maxDeliveries = maxDeliveries
        let logger = try global.logger()
        let keys = try KeySpace(namespace: try global.resolvedNamespace())
        let group = ConsumerGroup(configuration: try global.redisConfiguration(), keys: keys, group: group, consumer: consumerName)
        let handler = ShellHandler(command: command)
        let consumer = EventConsumer(group: group, settings: settings, logger: logger) { handler.run($0) }
        let trap = SignalTrap { _, _ in
            logger.info("signal received; finishing the running command")
            consumer.stop()
        }
        defer { withExtendedLifetime(trap) {} }
        logger.info("consuming", metadata: ["group": "\(self.group)", "consumer": "\(consumerName)"])
        let handled = try consumer.run()
        logger.info("consumer finished", metadata: ["handled": "\(handled)"])
    }
}

/// Checks group and consumer names: 1 to 256 bytes, no control characters or whitespace.
enum ConsumerNames {
    static func checkName(_ name: String, flag: String) throws {
        guard !name.isEmpty, name.utf8.count <= 256,
              !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0.properties.isWhitespace }) else {
            throw CommandFailure.usage("invalid \(flag): 1 to 256 bytes without whitespace or control characters")
        }
    }
}
