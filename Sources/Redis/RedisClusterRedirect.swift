/// A Cluster's refusal that names where, or when, to try again. None of them ran the command.
enum RedisClusterRedirect: Equatable {
    /// `MOVED slot host:port`: the slot lives on that node now; the map is stale.
    case moved(slot: Int, to: RedisConfiguration.Endpoint)
    /// `ASK slot host:port`: the slot is migrating and this key is already there; ask once with `ASKING`.
    case ask(slot: Int, to: RedisConfiguration.Endpoint)
    /// `TRYAGAIN` (a multi-key command's keys are split by a migration) or
    /// `CLUSTERDOWN` (the cluster cannot serve the slot yet): wait and retry.
    case wait

    /// The redirect in an error reply, or `nil` for any other error.
    init?(_ serverError: RedisServerError) {
        switch serverError.code {
        case "MOVED", "ASK":
            let words = serverError.message.split(separator: " ")
            guard words.count == 2, let slot = Int(words[0]), let colon = words[1].lastIndex(of: ":"),
                  let port = Int(words[1][words[1].index(after: colon)...]) else { return nil }
            var host = String(words[1][..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            let endpoint = RedisConfiguration.Endpoint.tcp(host: host, port: port)
            self = serverError.code == "MOVED" ? .moved(slot: slot, to: endpoint) : .ask(slot: slot, to: endpoint)
        case "TRYAGAIN", "CLUSTERDOWN":
            self = .wait
        default:
            return nil
        }
    }

    /// The redirect carried by a thrown error, if any.
    init?(_ error: any Error) {
        guard let serverError = (error as? RedisError)?.serverError else { return nil }
        self.init(serverError)
    }
}
