// libFuzzer target: a session hash as another tool might have written it, fed
// as raw RESP bytes through hiredis's own reader, then decoded as a session.
import Foundation  // the Redis library it links against uses Foundation
import Redis

/// hiredis 0.14's reader allocates whatever element count a `*N` header claims
/// (1.0.1 added a cap): a server is trusted with its framing. Inputs claiming
/// more than a million elements or bytes are skipped so the fuzzer explores the
/// decoder, not that known allocation.
private func claimsHugeLength(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    var index = 0
    while index < bytes.count {
        if bytes[index] == UInt8(ascii: "*") || bytes[index] == UInt8(ascii: "$") {
            var value = 0
            var next = index + 1
            while next < bytes.count, bytes[next] >= UInt8(ascii: "0"), bytes[next] <= UInt8(ascii: "9") {
                value = value * 10 + Int(bytes[next] - UInt8(ascii: "0"))
                if value > 1_000_000 { return true }
                next += 1
            }
        }
        index += 1
    }
    return false
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSessionHash(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    if claimsHugeLength(UnsafeBufferPointer(start: data, count: size)) { return 0 }
    let key = Array("opscore:session:0b6f7c1e-3f0a-4a57-9a43-2f1f8f6f1c2d".utf8)
    guard let replies = try? RedisReplyDecoder.decode(resp: Array(UnsafeBufferPointer(start: data, count: size))) else {
        return 0
    }
    for reply in replies {
        do {
            _ = try SessionHash.decode(reply, key: key)
        } catch .corruptSession(let reportedKey, _, _) {
            precondition(reportedKey == String(decoding: key, as: UTF8.self), "corruption reported for another key")
        } catch {
            // Error replies map to Redis errors; nothing else may come out.
            guard case .redis = error else { preconditionFailure("unexpected error \(error)") }
        }
    }
    return 0
}
