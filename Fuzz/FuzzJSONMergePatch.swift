// libFuzzer target: the JSON parser, writer and RFC 7386 merge patch.
// Input: a target document, a NUL byte, a patch document (either may be invalid).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONMergePatch(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let split = bytes.firstIndex(of: 0) ?? size
    let target = try? JSONValue(parsing: bytes[..<split])
    let patch = split < size ? try? JSONValue(parsing: bytes[(split + 1)...]) : nil
    for value in [target, patch].compactMap({ $0 }) {
        // Whatever parses writes back to the same value.
        precondition((try? JSONValue(parsing: value.jsonBytes)) == value, "write/parse round trip changed a value")
    }
    if let target, let patch {
        let merged = target.merging(patch: patch)
        precondition(merged.merging(patch: patch) == merged, "merge patch is not idempotent")
        if case .object = patch {
            guard case .object = merged else { preconditionFailure("object patch gave a non-object") }
        }
    }
    return 0
}
