import ArgumentParser
import OpsCore

/// `opscore agent register|remove|list`.
struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Register, remove and list the agents allowed to start sessions.",
        subcommands: [Register.self, Remove.self, List.self]
    )

    struct Register: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register agents (registering one twice is harmless).",
            discussion: "Example: opscore agent register build-bot-1 build-bot-2")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Agent ids: 1 to 256 bytes of UTF-8, no control characters.") var agentIDs: [String]

        func run() throws {
            let (lifecycle, _) = try global.lifecycle()
            let added = try lifecycle.agents.register(agentIDs)
            Output.result(
                global.outputFormat,
                json: ["registered": .array(agentIDs.map(JSONValue.string)), "added": .integer(Int64(added))],
                text: "registered \(agentIDs.count) agent(s), \(added) new")
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove an agent; its sessions stay, but it cannot start new ones.",
            discussion: "Example: opscore agent remove build-bot-1")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The agent id.") var agentID: String

        func run() throws {
            let (lifecycle, _) = try global.lifecycle()
            guard try lifecycle.agents.remove(agentID) else { throw OpsCoreError.agentNotRegistered(agentID: agentID) }
            Output.result(global.outputFormat, json: ["removed": .string(agentID)], text: "removed \(Output.quotedIfNeeded(agentID))")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List registered agents, one per line.",
            discussion: "Example: opscore --format json agent list")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            let (lifecycle, _) = try global.lifecycle()
            for agentID in try lifecycle.agents.list() {
                Output.result(global.outputFormat, json: ["agent_id": .string(agentID)], text: Output.quotedIfNeeded(agentID))
            }
        }
    }
}
