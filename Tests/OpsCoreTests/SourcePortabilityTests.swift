import Foundation
import Testing

/// The package builds on macOS too: every use of Glibc is behind
/// `#if canImport(Glibc)` with a Darwin branch, and nothing names the module.
@Suite struct SourcePortabilityTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func swiftFiles(under folder: String) -> [URL] {
        let root = packageRoot.appendingPathComponent(folder)
        let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)
        return (walker?.allObjects as? [URL] ?? []).filter { $0.pathExtension == "swift" }
    }

    @Test func everyGlibcImportHasADarwinBranchAndNoCodeQualifiesGlibc() throws {
        let files = Self.swiftFiles(under: "Sources") + Self.swiftFiles(under: "Tests")
        #expect(files.count > 50)
        for file in files {
            let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            for (index, line) in lines.enumerated() {
                let code = line.trimmingCharacters(in: .whitespaces)
                if code.hasSuffix("import " + "Glibc") {
                    #expect(index > 0 && lines[index - 1] == "#if canImport(Glibc)", "\(file.lastPathComponent):\(index + 1)")
                    #expect(index + 2 < lines.count && lines[index + 1] == "#elseif canImport(Darwin)", "\(file.lastPathComponent):\(index + 1)")
                }
                let qualified = "Glibc" + "."  // split so this line does not match itself
                #expect(!code.contains(qualified), "\(file.lastPathComponent):\(index + 1) names the module")
            }
        }
    }
}
