import ArgumentParser
import Foundation
import Logging
import OpsCore
import Redis

/// Output formats.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case json, text
}

/// Options every command takes; each falls back to its environment variable.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: Self.help(Self.redisURLHelp))
    var redisURL: String?

    @Option(name: .long, help: Self.help(Self.namespaceHelp))
    var namespace: String?

    @Option(name: .long, help: Self.help(Self.logLevelHelp))
    var logLevel: String?

    @Option(name: .long, help: Self.help(Self.formatHelp))
    var format: OutputFormat?

    @Option(name: .long, help: Self.help(Self.originHelp))
    var origin: String?

    @Option(name: .customLong("wait-replicas"), help: Self.help(Self.waitReplicasHelp))
    var waitReplicas: Int?

    /// One global option's flag, value name and help text.
    typealias OptionHelp = (flag: String, value: String, text: String)

    static let redisURLHelp: OptionHelp = ("--redis-url", "URL", "Redis URL: redis://[[user]:password@]host[:port][/db], unix:///path.sock[?db=N], redis-sentinel://[[user]:password@]host[:port][,...][/db]#master (Sentinel) or redis-cluster://[[user]:password@]host[:port][,...] (Cluster seeds). Env OPSCORE_REDIS_URL.")
    static let namespaceHelp: OptionHelp = ("--namespace", "NS", "Key namespace. Env OPSCORE_NAMESPACE. Default opscore.")
    static let logLevelHelp: OptionHelp = ("--log-level", "LEVEL", "trace, debug, info, notice, warning, error, critical. Env OPSCORE_LOG_LEVEL. Default info.")
    static let formatHelp: OptionHelp = ("--format", "FORMAT", "json or text. Default: text on a terminal, json otherwise.")
    static let originHelp: OptionHelp = ("--origin", "NAME", "Writer name in events (`origin`). Env OPSCORE_ORIGIN. Default: the host name.")
    static let waitReplicasHelp: OptionHelp = ("--wait-replicas", "N", "Replicas that must confirm every write (WAIT); fewer exit 75. Env OPSCORE_WAIT_REPLICAS. Default 0.")

    private static func help(_ option: OptionHelp) -> ArgumentHelp {
        ArgumentHelp(option.text, valueName: option.value)
    }

    /// The global options for the top-level help, where ArgumentParser lists none
    /// (every command declares them; they may come before or after the command).
    static var overview: String {
        let options = [redisURLHelp, namespaceHelp, logLevelHelp, formatHelp, originHelp, waitReplicasHelp]
        return "Global options (before or after the command):\n" + options.map { option in
            "  \(option.flag) <\(option.value)>\n" + wrapped(option.text, width: 72, indent: "        ")
        }.joined(separator: "\n")
    }

    /// `text` in lines of at most `width` characters (a longer word gets a line of its own), each indented.
    private static func wrapped(_ text: String, width: Int, indent: String) -> String {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty && line.count + 1 + word.count > width {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { lines.append(line) }
        return lines.map { indent + $0 }.joined(separator: "\n")
    }

    private var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// The resolved output format.
    var outputFormat: OutputFormat {
        if let format { return format }
        return isatty(STDOUT_FILENO) == 1 ? .text : .json
    }

    /// The Redis configuration from the flag, the environment, or the default.
    func redisConfiguration() throws -> RedisConfiguration {
        let url = redisURL ?? environment["OPSCORE_REDIS_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "redis://127.0.0.1:6379/0"
        do {
            return try RedisConfiguration(url: url)
        } catch {
            throw CommandFailure.usage("invalid --redis-url: \(error.message)")
        }
    }

    /// Exit 64 for a command that has no meaning on a Redis Cluster: layout-1 data
    /// (which `migrate` moves) could never run on one, its keys spanning slots.
    func refuseCluster(for command: String) throws {
        guard try redisConfiguration().cluster != nil else { return }
        throw CommandFailure.usage("`\(command)` does not run on a Redis Cluster: layout 1 never ran on one; migrate on the single server first, then move the data")
    }

    /// The key namespace: 1 to 64 characters of `[A-Za-z0-9_.-]`.
    func resolvedNamespace() throws -> String {
        let value = namespace ?? environment["OPSCORE_NAMESPACE"].flatMap { $0.isEmpty ? nil : $0 } ?? "opscore"
        try KeySpace.validate(namespace: value)  // invalid_input: exit 64
        return value
    }

    /// Replicas that must confirm every write: the flag, the environment, or 0.
    func resolvedWaitReplicas() throws -> Int {
        if let waitReplicas {
            guard (0...100).contains(waitReplicas) else { throw CommandFailure.usage("invalid --wait-replicas: use 0 to 100") }
            return waitReplicas
        }
        guard let text = environment["OPSCORE_WAIT_REPLICAS"], !text.isEmpty else { return 0 }
        guard let value = Int(text), (0...100).contains(value) else { throw CommandFailure.usage("invalid OPSCORE_WAIT_REPLICAS: use 0 to 100") }
        return value
    }

    /// The writer name written as `origin` in events: the flag, the environment, or
    /// `nil` for the host name. ``SessionLifecycle`` checks it.
    var resolvedOrigin: String? {
        origin ?? environment["OPSCORE_ORIGIN"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Bootstraps logging to stderr once and returns the logger.
    func logger() throws -> Logger {
        let text = logLevel ?? environment["OPSCORE_LOG_LEVEL"].flatMap { $0.isEmpty ? nil : $0 } ?? "info"
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw CommandFailure.usage("invalid --log-level '\(text)': use trace, debug, info, notice, warning, error or critical")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "opscore")
        logger.logLevel = level
        return logger
    }

    /// Everything a command needs to reach the sessions.
    func lifecycle(poolSize: Int = 1) throws -> (SessionLifecycle, Logger) {
        let logger = try logger()
        let pool = RedisConnectionPool(configuration: try redisConfiguration(), size: poolSize)
        let lifecycle = try SessionLifecycle(
            pool: pool, namespace: try resolvedNamespace(), origin: resolvedOrigin, logger: logger, waitReplicas: try resolvedWaitReplicas())
        return (lifecycle, logger)
    }
}
