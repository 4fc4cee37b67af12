import ArgumentParser
import OpsCore

/// `opscore doctor`: checks the deployment, one line per check; exit 1 when any fails.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the deployment and say what to fix; exit 0 when no check fails, 1 otherwise.",
        discussion: """
            Checks: Redis reachable, its version and role; the topology (single server or \
            what the sentinels see); maxmemory-policy (anything but noeviction fails); \
            persistence (off warns); the namespace's layout and meta; agents present in only \
            some partitions (fails); sampled index entries without a session and live sessions \
            missing from the by-update index; stream lengths against events_maxlen; each \
            consumer group's pending count, oldest pending idle time and lag; the commands the \
            current user may not run (ACL DRYRUN, where allowed). Reads only.

            Example: opscore doctor --format json
            """)
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let (lifecycle, _) = try global.lifecycle()
        let checks = DeploymentDoctor(store: lifecycle.store).run()
        let format = global.outputFormat
        for check in checks {
            switch format {
            case .json:
                Output.object(["check": .string(check.name), "status": .string(check.status.rawValue), "detail": .string(check.detail)])
            case .text:
                Output.line("\(check.status.rawValue + String(repeating: " ", count: 4 - check.status.rawValue.count)) \(check.name): \(check.detail)")
            }
        }
        if checks.contains(where: { $0.status == .fail }) { throw ExitCode(1) }
    }
}
