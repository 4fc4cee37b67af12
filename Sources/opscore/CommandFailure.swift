import Foundation
import OpsCore

/// A failed command: one `error: …` line on stderr and an exit code.
struct CommandFailure: Error {
    /// The message, without the `error: ` prefix.
    var message: String
    /// The process exit code.
    var exitCode: Int32

    init(message: String, exitCode: Int32) {
        self.message = message
        self.exitCode = exitCode
    }

    /// Maps a library error to its documented exit code.
    init(_ error: OpsCoreError) {
        message = error.description
        switch error.code {
        case "invalid_input": exitCode = 64
        case "redis_unavailable", "redis_timeout": exitCode = 69
        case "redis_denied": exitCode = 77
        case "not_replicated": exitCode = 75
        default: exitCode = 1
        }
    }

    /// Bad usage or bad input (exit 64).
    static func usage(_ message: String) -> CommandFailure {
        CommandFailure(message: message, exitCode: 64)
    }

    /// Writes the error line and exits.
    func exit() -> Never {
        let line = "error: " + message.replacingOccurrences(of: "\n", with: " ") + "\n"
        FileHandle.standardError.write(Data(line.utf8))
        Foundation.exit(exitCode)
    }
}
