import Foundation
import Testing

/// What a new user tries first: `opscore --version` and `opscore --help`.
@Suite struct VersionAndHelpTests {
    @Test func versionNamesTheReleaseTheCommitAndHiredis() async throws {
        let result = try await runOpscore(["--version"])
        #expect(result.exitCode == 0)
        #expect(result.stderr.isEmpty)
        let line = try #require(result.lines.first)
        #expect(result.lines.count == 1)
        #expect(line.hasPrefix("opscore 2."))
        #expect(line.contains("hiredis 0.14.1"))
        // The commit is the checkout's, or `unknown` outside a git checkout.
        let commit = try #require(line.firstRange(of: "commit ").map { line[$0.upperBound...].prefix { $0 != "," } })
        #expect(commit == "unknown" || (commit.count == 12 && commit.allSatisfy(\.isHexDigit)))
    }

    @Test func topLevelHelpListsEveryGlobalOption() async throws {
        let result = try await runOpscore(["--help"])
        #expect(result.exitCode == 0)
        for option in ["--redis-url <URL>", "--namespace <NS>", "--log-level <LEVEL>", "--format <FORMAT>", "--origin <NAME>", "--wait-replicas <N>", "--version"] {
            #expect(result.stdout.contains(option), "top-level help lacks \(option)")
        }
        #expect(result.stdout.contains("redis-sentinel://"))
    }
}
