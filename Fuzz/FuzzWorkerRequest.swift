// libFuzzer target: the worker's request-line parser.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWorkerRequest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let line = UnsafeBufferPointer(start: data, count: size)
    do {
        let request = try WorkerRequest(line: line)
        switch request.operation {
        case .update(let id, _), .end(let id, _), .get(let id), .delete(let id):
            precondition(id.text.utf8.count == 36 && id.text == id.text.lowercased(), "session id not canonical")
        case .registerAgent(let ids):
            precondition(!ids.isEmpty, "empty agent list accepted")
        case .start:
            break
        }
    } catch {
        precondition(error.code == "invalid_request" || error.code == "invalid_input", "unknown refusal code")
    }
    return 0
}
