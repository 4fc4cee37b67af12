extension RedisConfiguration {
    /// Parses a Redis URL.
    ///
    /// Accepted forms: `redis://[[user]:password@]host[:port][/db]`,
    /// `unix:///path/to/redis.sock[?db=N]` and
    /// `redis-sentinel://[[user]:password@]host[:port][,host[:port]…][/db][?sentinel_password=P]#master-name`
    /// (sentinels on port 26379 unless given; the credentials are the data nodes').
    /// All take the optional query parameters `timeout` and `connect_timeout` in
    /// seconds (fractions allowed). User name and passwords may be percent-encoded.
    /// - Parameter url: The URL text.
    /// - Throws: ``RedisError`` of kind `invalidConfiguration`, naming what is wrong
    ///   but never echoing the password.
    public init(url: String) throws(RedisError) {
        self.init()
        let query: [(String, String)]
        if url.hasPrefix("redis://") {
            let rest = try takeCredentials(Substring(url.dropFirst("redis://".count)))
            guard !rest.contains("#") else {
                throw RedisError(.invalidConfiguration, "a redis:// URL has no '#' part")
            }
            let (withoutQuery, pairs) = RedisURL.splitQuery(String(rest))
            try parseTCP(withoutQuery)
            query = pairs
        } else if url.hasPrefix("redis-sentinel://") {
            query = try parseSentinel(Substring(url.dropFirst("redis-sentinel://".count)))
        } else if url.hasPrefix("redis-cluster://") {
            query = try parseCluster(Substring(url.dropFirst("redis-cluster://".count)))
        } else if url.hasPrefix("unix://") {
            let (withoutQuery, pairs) = RedisURL.splitQuery(url)
            let path = String(withoutQuery.dropFirst("unix://".count))
            guard path.hasPrefix("/") else {
                throw RedisError(.invalidConfiguration, "unix socket URL needs an absolute path: unix:///path/to/redis.sock")
            }
            endpoint = .unixSocket(path: RedisURL.percentDecode(path) ?? path)
            query = pairs
        } else if url.hasPrefix("rediss://") {
            throw RedisError(.invalidConfiguration, "TLS (rediss://) is not supported; use redis:// or unix://")
        } else {
            throw RedisError(.invalidConfiguration, "Redis URL must start with redis://, redis-sentinel://, redis-cluster:// or unix://")
        }
        for (name, value) in query {
            switch name {
            case "db" where cluster == nil:
                guard let number = Int(value), number >= 0 else {
                    throw RedisError(.invalidConfiguration, "database number in Redis URL is not a non-negative integer")
                }
                database = number
            case "timeout", "socket_timeout":
                commandTimeout = try RedisURL.duration(value, name: name)
            case "connect_timeout", "socket_connect_timeout":
                connectTimeout = try RedisURL.duration(value, name: name)
            case "sentinel_password" where sentinel != nil:
                guard let decoded = RedisURL.percentDecode(value) else {
                    throw RedisError(.invalidConfiguration, "sentinel_password in Redis URL is not valid percent-encoding")
                }
                sentinel?.password = decoded.isEmpty ? nil : decoded
            default:
                throw RedisError(.invalidConfiguration, "unknown Redis URL parameter '\(name)'")
            }
        }
    }

    /// Reads `[user]:password` or a lone password; shows no part of it in any error.
    private mutating func parseCredentials(_ credentials: Substring) throws(RedisError) {
        guard !credentials.contains(where: { $0 == "/" || $0 == "?" || $0 == "#" || $0 == "@" }) else {
            throw RedisError(.invalidConfiguration, "the user name and password in a Redis URL must percent-encode '/', '?', '#' and '@' (as %2F, %3F, %23, %40)")
        }
        if let colon = credentials.firstIndex(of: ":") {
            let user = String(credentials[..<colon])
            let secret = String(credentials[credentials.index(after: colon)...])
            guard let decodedUser = RedisURL.percentDecode(user), let decodedSecret = RedisURL.percentDecode(secret) else {
                throw RedisError(.invalidConfiguration, "credentials in Redis URL are not valid percent-encoding")
            }
            username = decodedUser.isEmpty ? nil : decodedUser
            password = decodedSecret
        } else {
            // redis-py reads a lone `name@` as a user without password; redis-cli as a password.
            // A lone word is taken as the password, which is what single-password servers need.
            guard let decoded = RedisURL.percentDecode(String(credentials)) else {
                throw RedisError(.invalidConfiguration, "credentials in Redis URL are not valid percent-encoding")
            }
            password = decoded.isEmpty ? nil : decoded
        }
    }

    /// Reads what follows `redis-sentinel://`: credentials, the sentinels, the
    /// database, the query and the master name after `#`. Returns the query.
    private mutating func parseSentinel(_ text: Substring) throws(RedisError) -> [(String, String)] {
        let rest = try takeCredentials(text)
        guard let hash = rest.firstIndex(of: "#") else {
            throw RedisError(.invalidConfiguration, "a redis-sentinel:// URL needs the master name after '#': redis-sentinel://host:26379#mymaster")
        }
        guard let masterName = RedisURL.percentDecode(String(rest[rest.index(after: hash)...])), !masterName.isEmpty else {
            throw RedisError(.invalidConfiguration, "the master name after '#' in a redis-sentinel:// URL is empty or not valid percent-encoding")
        }
        let (withoutQuery, pairs) = RedisURL.splitQuery(String(rest[..<hash]))
        var hosts = Substring(withoutQuery)
        if let slash = hosts.firstIndex(of: "/") {
            try parseDatabase(hosts[hosts.index(after: slash)...])
            hosts = hosts[..<slash]
        }
        let sentinels = try Self.parseHostList(hosts, defaultPort: RedisSentinelSettings.defaultPort, scheme: "redis-sentinel")
        sentinel = RedisSentinelSettings(sentinels: sentinels, masterName: masterName)
        return pairs
    }

    /// Reads what follows `redis-cluster://`: credentials, the seed nodes and the
    /// query. A cluster has only database 0. Returns the query.
    private mutating func parseCluster(_ text: Substring) throws(RedisError) -> [(String, String)] {
        let rest = try takeCredentials(text)
        guard !rest.contains("#") else {
            throw RedisError(.invalidConfiguration, "a redis-cluster:// URL has no '#' part")
        }
        let (withoutQuery, pairs) = RedisURL.splitQuery(String(rest))
        var hosts = Substring(withoutQuery)
        if let slash = hosts.firstIndex(of: "/") {
            let database = hosts[hosts.index(after: slash)...]
            guard database.isEmpty || database == "0" else {
                throw RedisError(.invalidConfiguration, "a Redis Cluster has only database 0")
            }
            hosts = hosts[..<slash]
        }
        cluster = RedisClusterSettings(seeds: try Self.parseHostList(hosts, defaultPort: 6379, scheme: "redis-cluster"))
        return pairs
    }

    /// Reads the user info, which ends at the last `@` (a password may hold `?`, `:`
    /// or `,`, and nothing of it may ever be read as a host, port or parameter), and
    /// returns what follows it.
    private mutating func takeCredentials(_ text: Substring) throws(RedisError) -> Substring {
        guard let at = text.lastIndex(of: "@") else { return text }
        try parseCredentials(text[..<at])
        return text[text.index(after: at)...]
    }

    /// `host[:port],host[:port]…`; an empty address is refused.
    private static func parseHostList(_ hosts: Substring, defaultPort: Int, scheme: String) throws(RedisError) -> [Endpoint] {
        var endpoints: [Endpoint] = []
        for host in hosts.split(separator: ",", omittingEmptySubsequences: false) {
            guard !host.isEmpty else {
                throw RedisError(.invalidConfiguration, "a \(scheme):// URL has an empty address")
            }
            endpoints.append(try parseHostAndPort(host, defaultPort: defaultPort))
        }
        return endpoints
    }

    private mutating func parseDatabase(_ text: Substring) throws(RedisError) {
        guard !text.isEmpty else { return }
        guard let number = Int(text), number >= 0 else {
            throw RedisError(.invalidConfiguration, "database number in Redis URL is not a non-negative integer")
        }
        database = number
    }

    private mutating func parseTCP(_ rest: String) throws(RedisError) {
        var hostPart = Substring(rest)
        if let slash = hostPart.firstIndex(of: "/") {
            try parseDatabase(hostPart[hostPart.index(after: slash)...])
            hostPart = hostPart[..<slash]
        }
        endpoint = try Self.parseHostAndPort(hostPart, defaultPort: 6379)
    }

    /// `host`, `host:port`, `[v6]` or `[v6]:port`; an empty host is 127.0.0.1.
    private static func parseHostAndPort(_ hostPart: Substring, defaultPort: Int) throws(RedisError) -> Endpoint {
        var host: String
        var portText: Substring?
        if hostPart.hasPrefix("[") {
            guard let close = hostPart.firstIndex(of: "]") else {
                throw RedisError(.invalidConfiguration, "IPv6 host in Redis URL lacks its closing ']'")
            }
            host = String(hostPart[hostPart.index(after: hostPart.startIndex)..<close])
            let after = hostPart[hostPart.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() }
        } else if let colon = hostPart.lastIndex(of: ":") {
            host = String(hostPart[..<colon])
            portText = hostPart[hostPart.index(after: colon)...]
        } else {
            host = String(hostPart)
        }
        if host.isEmpty { host = "127.0.0.1" }
        var port = defaultPort
        if let portText {
            guard let number = Int(portText), (1...65535).contains(number) else {
                throw RedisError(.invalidConfiguration, "port in Redis URL is not a number from 1 to 65535")
            }
            port = number
        }
        return .tcp(host: host, port: port)
    }
}

/// Small helpers for the URL forms; no Foundation needed.
enum RedisURL {
    static func splitQuery(_ url: String) -> (String, [(String, String)]) {
        guard let mark = url.firstIndex(of: "?") else { return (url, []) }
        let pairs = url[url.index(after: mark)...].split(separator: "&").map { pair -> (String, String) in
            if let equals = pair.firstIndex(of: "=") {
                return (String(pair[..<equals]), String(pair[pair.index(after: equals)...]))
            }
            return (String(pair), "")
        }
        return (String(url[..<mark]), pairs)
    }

    static func duration(_ text: String, name: String) throws(RedisError) -> Duration {
        guard let seconds = Double(text), seconds > 0, seconds < 86_400 else {
            throw RedisError(.invalidConfiguration, "Redis URL parameter '\(name)' must be a positive number of seconds")
        }
        return .nanoseconds(Int64(seconds * 1e9))
    }

    static func percentDecode(_ text: String) -> String? {
        guard text.contains("%") else { return text }
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    static func percentEncode(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            let scalar = Unicode.Scalar(byte)
            if byte < 0x80, scalar.properties.isAlphabetic || ("0"..."9").contains(Character(scalar)) || "-._~".unicodeScalars.contains(scalar) {
                result.unicodeScalars.append(scalar)
            } else {
                let hex = Array("0123456789ABCDEF".utf8)
                result += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]], as: UTF8.self)
            }
        }
        return result
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
