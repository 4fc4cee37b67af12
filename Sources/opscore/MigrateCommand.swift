import ArgumentParser
import Logging
import OpsCore

/// `opscore migrate`: moves layout-1 data to layout 2.
struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Move the namespace's layout-1 keys to layout 2 (idempotent, resumable).",
        discussion: """
            Each session moves in one transaction; the agents are copied to all 16 partitions; \
            the old keys are removed and opscore:meta written last, so writers refuse until it is \
            done. Run it again after a crash: it completes the move. Uses SCAN on a single server. \
            Stop writers of the namespace while it runs.

            Example: opscore --namespace opscore migrate
            """)
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try global.refuseCluster(for: "migrate")
        let (lifecycle, logger) = try global.lifecycle()
        let report = try LayoutMigration(store: lifecycle.store).run { moved in
            logger.info("migrating", metadata: ["sessions_moved": "\(moved)"])
        }
        for key in report.skippedKeys {
            logger.warning("left in place: not a session hash with a valid id", metadata: ["key": "\(key)"])
        }
        Output.result(
            global.outputFormat,
            json: [
                "sessions_moved": .integer(Int64(report.sessionsMoved)), "agents": .integer(Int64(report.agents)),
                "keys_removed": .integer(Int64(report.keysRemoved)), "skipped": .integer(Int64(report.skippedKeys.count)),
            ],
            text: "moved \(report.sessionsMoved) sessions and \(report.agents) agents to layout 2; removed \(report.keysRemoved) layout-1 keys; skipped \(report.skippedKeys.count)")
    }
}
