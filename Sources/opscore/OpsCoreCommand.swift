import ArgumentParser
import Foundation
import OpsCore
import Redis

/// The `opscore` command: parses, calls one library function, prints, exits.
@main
struct OpsCoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "opscore",
        abstract: "Track agent sessions in Redis, shared by many hosts.",
        discussion: """
            Exit codes: 0 success; 1 refused (unknown agent, no such session, invalid transition, \
            version mismatch, conflict, corrupt session, partially applied, layout mismatch); 64 bad usage \
            or input; 69 Redis unreachable or timed out; 75 committed but not confirmed by enough replicas \
            (--wait-replicas); 77 authentication or permission refused.

            \(GlobalOptions.overview)

            Example: opscore agent register agent-1 && opscore session start --agent agent-1 --workflow build
            """,
        version: OpsCoreVersion.text,
        subcommands: [InitCommand.self, MigrateCommand.self, DoctorCommand.self, AgentCommand.self, SessionCommand.self, WatchCommand.self, ConsumeCommand.self, WorkerCommand.self, BenchCommand.self]
    )

    /// `opscore [global options] COMMAND …`: global options written before the
    /// command are moved after it, where every leaf command declares them.
    static func globalOptionsMovedLast(_ arguments: [String]) -> [String] {
        let names: Set<String> = ["--redis-url", "--namespace", "--log-level", "--format", "--origin", "--wait-replicas"]
        var leading: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            let name = argument.split(separator: "=", maxSplits: 1).first.map(String.init) ?? argument
            guard names.contains(name) else { break }
            leading.append(argument)
            if !argument.contains("="), index + 1 < arguments.count {
                leading.append(arguments[index + 1])
                index += 1
            }
            index += 1
        }
        let rest = Array(arguments[index...])
        if let terminator = rest.firstIndex(of: "--") {
            return Array(rest[..<terminator]) + leading + Array(rest[terminator...])
        }
        return rest + leading
    }

    static func main() {
        // A reader that went away must give EPIPE on write, not kill the process.
        signal(SIGPIPE, SIG_IGN)
        do {
            var command = try parseAsRoot(Self.globalOptionsMovedLast(Array(CommandLine.arguments.dropFirst())))
            try command.run()
        } catch let code as ExitCode {
            // The command already wrote its error lines (e.g. `session list` with corrupt sessions).
            Foundation.exit(code.rawValue)
        } catch let failure as CommandFailure {
            failure.exit()
        } catch let error as OpsCoreError {
            CommandFailure(error).exit()
        } catch let error as RedisError {
            CommandFailure(OpsCoreError.redis(error)).exit()
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }
            let message = fullMessage(for: error)
                .split(separator: "\n").first.map(String.init) ?? "bad usage"
            let trimmed = message.hasPrefix("Error: ") ? String(message.dropFirst("Error: ".count)) : message
            CommandFailure(message: trimmed + " (see opscore --help)", exitCode: 64).exit()
        }
    }
}
