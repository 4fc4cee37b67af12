// libFuzzer target: a session hash as another tool might have written it, fed
// as raw RESP bytes through the reader connections use (`RedisReplyReader`, which
// checks a reply is whole before it allocates anything for it, so headers claiming
// billions of elements or bytes are fuzzed too), then decoded as a session.
import Foundation  // the Redis library it links against uses Foundation
import Redis

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSessionHash(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
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
