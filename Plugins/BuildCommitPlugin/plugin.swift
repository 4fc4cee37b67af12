import Foundation
import PackagePlugin

/// Writes `BuildCommit.swift` (`let buildCommit = "<short commit>"`) before every
/// build of the target that uses it, for `opscore --version`. Outside a git
/// checkout the commit is `unknown`. The file is rewritten only when the commit
/// changed, so an unchanged commit costs no recompilation.
@main
struct BuildCommitPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let directory = context.pluginWorkDirectoryURL.appending(path: "BuildCommit")
        let file = directory.appending(path: "BuildCommit.swift")
        let script = """
            mkdir -p "$(dirname "$2")"
            commit=$(git -C "$1" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
            printf 'let buildCommit = "%s"\\n' "$commit" > "$2.new"
            if cmp -s "$2.new" "$2"; then rm -f "$2.new"; else mv "$2.new" "$2"; fi
            """
        return [
            .prebuildCommand(
                displayName: "Recording the commit for opscore --version",
                executable: URL(filePath: "/bin/sh"),
                arguments: ["-c", script, "sh", context.package.directoryURL.path, file.path],
                outputFilesDirectory: directory),
        ]
    }
}
