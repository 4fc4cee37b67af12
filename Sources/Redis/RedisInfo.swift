/// The `field:value` lines of an `INFO` reply; section headers and blank lines are skipped.
public struct RedisInfo: Sendable, Hashable {
    /// Every field by name.
    public let fields: [String: String]

    /// Reads the text of an `INFO` reply.
    public init(_ text: String) {
        var fields: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = String(line[line.index(after: colon)...])
        }
        self.fields = fields
    }

    /// Sends `INFO section` and reads the reply. Blocks.
    public init(_ connection: RedisConnection, section: String) throws(RedisError) {
        self.init(try connection.send(RedisCommand("INFO", section)).text ?? "")
    }

    /// A field's value, or `nil` when the reply has no such field.
    public subscript(_ name: String) -> String? { fields[name] }

    /// A field's value as an integer.
    public func integer(_ name: String) -> Int? { fields[name].flatMap { Int($0) } }
}
