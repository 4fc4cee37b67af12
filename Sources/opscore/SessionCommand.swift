import ArgumentParser
import Foundation
import OpsCore

/// `opscore session start|get|update|end|list|delete`.
struct SessionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "session",
        abstract: "Start, read, change, end, list and delete sessions.",
        subcommands: [Start.self, Get.self, Update.self, End.self, List.self, Delete.self]
    )

    static func sessionID(_ text: String) throws -> SessionID {
        guard let id = SessionID(text) else { throw CommandFailure.usage("invalid session id '\(text.prefix(64))': not a UUID") }
        return id
    }

    static func status(_ text: String) throws -> SessionStatus {
        guard let status = SessionStatus(rawValue: text) else {
            throw CommandFailure.usage("invalid status '\(text.prefix(32))': use \(SessionStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return status
    }

    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a session for a registered agent.",
            discussion: #"Example: opscore session start --agent build-bot-1 --workflow nightly --metadata '{"branch":"main"}'"#)
        @OptionGroup var global: GlobalOptions
        @Option(name: .customLong("agent"), help: "The agent id (must be registered).") var agentID: String
        @Option(name: .customLong("workflow"), help: "The workflow id.") var workflowID: String
        @Option(help: "Initial metadata, a JSON object (at most 64 KiB).") var metadata: String?

        func run() throws {
            let parsed = try metadata.map { try Session.parseMetadata($0) } ?? [:]
            let (lifecycle, _) = try global.lifecycle()
            Output.session(try lifecycle.startSession(agentID: agentID, workflowID: workflowID, metadata: parsed), format: global.outputFormat)
        }
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a session.",
            discussion: "Example: opscore session get 0b6f7c1e-3f0a-4a57-9a43-2f1f8f6f1c2d")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The session id (a UUID).") var sessionID: String

        func run() throws {
            let id = try SessionCommand.sessionID(sessionID)
            let (lifecycle, _) = try global.lifecycle()
            Output.session(try lifecycle.getSession(id), format: global.outputFormat)
        }
    }

    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a session's status and/or merge-patch its metadata (RFC 7386).",
            discussion: #"Example: opscore session update 0b6f7c1e-3f0a-4a57-9a43-2f1f8f6f1c2d --status paused --metadata '{"step":3,"tmp":null}' --expect-version 2"#)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The session id (a UUID).") var sessionID: String
        @Option(help: "active, paused, completed, failed or cancelled.") var status: String?
        @Option(help: "A JSON Merge Patch object; null removes a key.") var metadata: String?
        @Option(name: .customLong("expect-version"), help: "Apply only if the session is at this version.") var expectVersion: Int64?

        func run() throws {
            let id = try SessionCommand.sessionID(sessionID)
            let update = SessionUpdate(
                status: try status.map(SessionCommand.status),
                metadataPatch: try metadata.map { try Session.parseMetadata($0) },
                expectedVersion: expectVersion)
            guard update.status != nil || update.metadataPatch != nil else {
                throw CommandFailure.usage("session update needs --status and/or --metadata")
            }
            let (lifecycle, _) = try global.lifecycle()
            Output.session(try lifecycle.updateSession(id, update), format: global.outputFormat)
        }
    }

    struct End: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "End a session as completed (default), failed or cancelled.",
            discussion: "Example: opscore session end 0b6f7c1e-3f0a-4a57-9a43-2f1f8f6f1c2d --status failed")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The session id (a UUID).") var sessionID: String
        @Option(help: "completed, failed or cancelled.") var status: String = "completed"

        func run() throws {
            let id = try SessionCommand.sessionID(sessionID)
            let ending = try SessionCommand.status(status)
            guard ending.isEnding else { throw CommandFailure.usage("invalid --status '\(status)': use completed, failed or cancelled") }
            let (lifecycle, _) = try global.lifecycle()
            Output.session(try lifecycle.endSession(id, status: ending), format: global.outputFormat)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List an agent's sessions, newest first, one per line.",
            discussion: "Example: opscore --format json session list --agent build-bot-1 --limit 10")
        @OptionGroup var global: GlobalOptions
        @Option(name: .customLong("agent"), help: "The agent id.") var agentID: String
        @Option(help: "The most sessions to show (1 to 10000).") var limit: Int = 100

        func run() throws {
            guard (1...10_000).contains(limit) else { throw CommandFailure.usage("invalid --limit: use 1 to 10000") }
            let (lifecycle, _) = try global.lifecycle()
            let listing = try lifecycle.listSessions(agent: agentID, limit: limit)
            for session in listing.sessions {
                switch global.outputFormat {
                case .json: Output.session(session, format: .json)
                case .text: Output.line("\(session.id)  \(session.status.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0))  v\(session.version)  \(session.startTime)  \(Output.quotedIfNeeded(session.workflowID))")
                }
            }
            // The readable sessions are printed; each corrupt one gets its own error line.
            for error in listing.corrupt { Output.diagnostic("error: \(error)") }
            if !listing.corrupt.isEmpty { throw ExitCode(1) }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a session and its index entries.",
            discussion: "Example: opscore session delete 0b6f7c1e-3f0a-4a57-9a43-2f1f8f6f1c2d")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The session id (a UUID).") var sessionID: String

        func run() throws {
            let id = try SessionCommand.sessionID(sessionID)
            let (lifecycle, _) = try global.lifecycle()
            try lifecycle.deleteSession(id)
            Output.result(global.outputFormat, json: ["deleted": .string(id.text)], text: "deleted \(id)")
        }
    }
}
