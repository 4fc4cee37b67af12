import OpsCore
import Testing

/// One row of RFC 7386 Appendix A.
struct JSONMergePatchExample: Sendable, CustomTestStringConvertible {
    let original: String
    let patch: String
    let result: String
    var testDescription: String { "\(original) + \(patch) = \(result)" }
}

/// RFC 7386 JSON Merge Patch.
struct JSONMergePatchTests {
    /// All examples of RFC 7386 Appendix A.
    static let rfcExamples: [JSONMergePatchExample] = [
        .init(original: #"{"a":"b"}"#, patch: #"{"a":"c"}"#, result: #"{"a":"c"}"#),
        .init(original: #"{"a":"b"}"#, patch: #"{"b":"c"}"#, result: #"{"a":"b","b":"c"}"#),
        .init(original: #"{"a":"b"}"#, patch: #"{"a":null}"#, result: #"{}"#),
        .init(original: #"{"a":"b","b":"c"}"#, patch: #"{"a":null}"#, result: #"{"b":"c"}"#),
        .init(original: #"{"a":["b"]}"#, patch: #"{"a":"c"}"#, result: #"{"a":"c"}"#),
        .init(original: #"{"a":"c"}"#, patch: #"{"a":["b"]}"#, result: #"{"a":["b"]}"#),
        .init(original: #"{"a": {"b": "c"}}"#, patch: #"{"a": {"b": "d", "c": null}}"#, result: #"{"a": {"b": "d"}}"#),
        .init(original: #"{"a": [{"b":"c"}]}"#, patch: #"{"a": [1]}"#, result: #"{"a": [1]}"#),
        .init(original: #"["a","b"]"#, patch: #"["c","d"]"#, result: #"["c","d"]"#),
        .init(original: #"{"a":"b"}"#, patch: #"["c"]"#, result: #"["c"]"#),
        .init(original: #"{"a":"foo"}"#, patch: #"null"#, result: #"null"#),
        .init(original: #"{"a":"foo"}"#, patch: #""bar""#, result: #""bar""#),
        .init(original: #"{"e":null}"#, patch: #"{"a":1}"#, result: #"{"e":null,"a":1}"#),
        .init(original: #"[1,2]"#, patch: #"{"a":"b","c":null}"#, result: #"{"a":"b"}"#),
        .init(original: #"{}"#, patch: #"{"a":{"bb":{"ccc":null}}}"#, result: #"{"a":{"bb":{}}}"#),
    ]

    @Test(arguments: rfcExamples)
    func mergePatchMatchesRFC7386Example(_ example: JSONMergePatchExample) throws {
        let original = try JSONValue(parsing: example.original)
        let patch = try JSONValue(parsing: example.patch)
        let expected = try JSONValue(parsing: example.result)
        #expect(original.merging(patch: patch) == expected)
    }

    @Test func mergePatchNullRemovesKey() {
        let original: JSONValue = ["keep": 1, "drop": 2]
        #expect(original.merging(patch: ["drop": .null]) == ["keep": 1])
        #expect(original.merging(patch: ["absent": .null]) == original)
    }

    @Test func mergePatchDoesNotModifyTheOriginal() {
        let original: JSONValue = ["a": ["b": 1]]
        let merged = original.merging(patch: ["a": ["c": 2]])
        #expect(merged == ["a": ["b": 1, "c": 2]])
        #expect(original == ["a": ["b": 1]])
    }

    @Test func mergePatchKeepsNullsInsideArrays() {
        let merged = JSONValue.object([:]).merging(patch: ["list": [.null, 1]])
        #expect(merged == ["list": [.null, 1]])
    }

    @Test func mergePatchOntoScalarStartsFromEmptyObject() {
        #expect(JSONValue.string("x").merging(patch: ["a": 1, "b": .null]) == ["a": 1])
        #expect(JSONValue.null.merging(patch: [:]) == [:])
    }

    @Test func mergePatchWithEmptyObjectKeepsObjectUnchanged() {
        let original: JSONValue = ["a": [1, 2], "b": ["c": true]]
        #expect(original.merging(patch: [:]) == original)
    }

    @Test func mergePatchUpdatesSessionMetadata() {
        let metadata: JSONValue = ["step": 3, "host": "a", "tags": ["x", "y"], "ok": true]
        let patch: JSONValue = ["step": 4, "tags": .null, "extra": ["retries": 1]]
        #expect(metadata.merging(patch: patch).jsonString == #"{"extra":{"retries":1},"host":"a","ok":true,"step":4}"#)
    }
}
