import Foundation
import OpsCore

/// Writes command results to stdout: one JSON object per line, or text for people.
enum Output {
    /// Writes one line to stdout and flushes it.
    /// - Returns: `false` when stdout is gone.
    @discardableResult
    static func line(_ bytes: [UInt8]) -> Bool {
        LineOutput.write(bytes, to: STDOUT_FILENO)
    }

    /// Writes one text line to stdout.
    @discardableResult
    static func line(_ text: String) -> Bool { line(Array(text.utf8)) }

    /// Writes one line to stderr.
    static func diagnostic(_ text: String) { LineOutput.write(Array(text.utf8), to: STDERR_FILENO) }

    /// Prints a session in the chosen format.
    static func session(_ session: Session, format: OutputFormat) {
        switch format {
        case .json:
            var buffer: [UInt8] = []
            session.writeJSON(to: &buffer)
            line(buffer)
        case .text:
            line("""
                session_id         \(session.id)
                agent_id           \(quotedIfNeeded(session.agentID))
                workflow_id        \(quotedIfNeeded(session.workflowID))
                status             \(session.status.rawValue)
                start_time         \(session.startTime)
                last_updated_time  \(session.lastUpdatedTime)
                metadata           \(JSONValue.object(session.metadata).jsonString)
                version            \(session.version)
                """)
        }
    }

    /// Prints one result: a JSON object, or a line of text for people.
    static func result(_ format: OutputFormat, json: @autoclosure () -> [String: JSONValue], text: @autoclosure () -> String) {
        switch format {
        case .json: object(json())
        case .text: line(text())
        }
    }

    /// Prints a JSON object built from string and integer fields.
    static func object(_ fields: [String: JSONValue]) {
        line(JSONValue.object(fields).jsonBytes)
    }

    /// Text with control characters escaped, so one value stays on one line.
    static func quotedIfNeeded(_ text: String) -> String {
        if text.unicodeScalars.allSatisfy({ $0.properties.generalCategory != .control && $0 != " " && $0 != "\"" }) {
            return text
        }
        return JSONValue.string(text).jsonString
    }
}
