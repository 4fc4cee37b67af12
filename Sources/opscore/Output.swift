import Foundation
import OpsCore

/// Writes command results to stdout: one JSON object per line, or text for people.
enum Output {
    /// Writes one line to stdout and flushes it.
    static func line(_ bytes: [UInt8]) {
        var bytes = bytes
        bytes.append(UInt8(ascii: "\n"))
        writeAll(1, bytes)
    }

    /// Writes one text line to stdout.
    static func line(_ text: String) { line(Array(text.utf8)) }

    /// Writes one line to stderr.
    static func diagnostic(_ text: String) { writeAll(2, Array((text + "\n").utf8)) }

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

    private static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }
}
