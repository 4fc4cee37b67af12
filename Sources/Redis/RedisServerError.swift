/// An error reply sent by the Redis server, split into its code and message.
///
/// `-WRONGTYPE Operation against a key holding the wrong kind of value` has the
/// code `WRONGTYPE`; a reply without an upper-case first word has the code `ERR`.
public struct RedisServerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The first word of the error reply, such as `ERR`, `WRONGTYPE`, `NOAUTH`, `NOPERM`.
    public let code: String
    /// The rest of the error reply.
    public let message: String

    /// Splits a raw error reply into code and message.
    /// - Parameter reply: The error text as Redis sent it, without the leading `-`.
    public init(reply: String) {
        let firstSpace = reply.firstIndex(of: " ")
        let firstWord = firstSpace.map { String(reply[..<$0]) } ?? reply
        if !firstWord.isEmpty, firstWord.allSatisfy({ $0.isUppercase || $0 == "_" }) {
            code = firstWord
            message = firstSpace.map { String(reply[reply.index(after: $0)...]) } ?? ""
        } else {
            code = "ERR"
            message = reply
        }
    }

    /// Creates an error from its parts.
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message.isEmpty ? code : "\(code) \(message)" }
}
