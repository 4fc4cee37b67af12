import Redis
import Testing

@Suite struct RedisConfigurationTests {
    @Test func readsTheDefaultFormWithoutExtras() throws {
        let configuration = try RedisConfiguration(url: "redis://127.0.0.1:6379/0")
        #expect(configuration.endpoint == .tcp(host: "127.0.0.1", port: 6379))
        #expect(configuration.password == nil)
        #expect(configuration.username == nil)
        #expect(configuration.database == 0)
    }

    @Test func readsUserPasswordHostPortAndDatabase() throws {
        let configuration = try RedisConfiguration(url: "redis://ops:s%40cret@redis.example:6380/3")
        #expect(configuration.endpoint == .tcp(host: "redis.example", port: 6380))
        #expect(configuration.username == "ops")
        #expect(configuration.password == "s@cret")
        #expect(configuration.database == 3)
    }

    @Test func readsPasswordWithoutUser() throws {
        let configuration = try RedisConfiguration(url: "redis://:pw@localhost")
        #expect(configuration.username == nil)
        #expect(configuration.password == "pw")
        #expect(configuration.endpoint == .tcp(host: "localhost", port: 6379))
    }

    @Test func readsIPv6HostsAndTimeouts() throws {
        let configuration = try RedisConfiguration(url: "redis://[::1]:7000/2?timeout=0.5&connect_timeout=3")
        #expect(configuration.endpoint == .tcp(host: "::1", port: 7000))
        #expect(configuration.commandTimeout == .milliseconds(500))
        #expect(configuration.connectTimeout == .seconds(3))
    }

    @Test func readsUnixSocketsWithDatabase() throws {
        let configuration = try RedisConfiguration(url: "unix:///run/redis/redis.sock?db=4")
        #expect(configuration.endpoint == .unixSocket(path: "/run/redis/redis.sock"))
        #expect(configuration.database == 4)
    }

    @Test(arguments: [
        "http://localhost", "redis://host:0", "redis://host:99999", "redis://host/x",
        "unix://relative.sock", "redis://host?timeout=-1", "redis://host?bogus=1", "rediss://host",
        "redis://host?timeout=0", "redis://host?connect_timeout=0", "redis://host?timeout=nan", "redis://host?timeout",
        "redis://host#fragment",
    ])
    func refusesMalformedURLs(url: String) {
        #expect(throws: RedisError.self) { try RedisConfiguration(url: url) }
    }

    @Test func neverShowsThePassword() throws {
        let configuration = try RedisConfiguration(url: "redis://ops:hunter2@h:1/0")
        #expect(!configuration.description.contains("hunter2"))
        #expect(configuration.description.contains("***"))
        #expect(try RedisConfiguration(url: configuration.url(redactingPassword: false)) == configuration)
        do {
            _ = try RedisConfiguration(url: "redis://ops:hunter2@h:notaport/0")
            Issue.record("expected an error")
        } catch {
            #expect(!"\(error)".contains("hunter2"))
        }
    }

    @Test(arguments: [
        "redis://u:12345?secret@host", "redis://u:12345/secret@host", "redis://u:12345#secret@host",
        "redis://12345?secret@host:6379/0", "redis://u:12345?secret@host?bogus=1",
    ])
    func anErrorNeverShowsAnyPartOfTheUserInfo(url: String) {
        do {
            let configuration = try RedisConfiguration(url: url)
            Issue.record("\(url) must be refused, not read as \(configuration)")
        } catch {
            let text = "\(error)"
            #expect(!text.contains("12345"))
            #expect(!text.contains("secret"))
            #expect(text.contains("percent-encode"))
        }
    }

    @Test func aPercentEncodedQuestionMarkInThePasswordIsRead() throws {
        let configuration = try RedisConfiguration(url: "redis://u:12345%3Fsecret@host:7000?timeout=2")
        #expect(configuration.password == "12345?secret")
        #expect(configuration.endpoint == .tcp(host: "host", port: 7000))
        #expect(configuration.commandTimeout == .seconds(2))
    }
}
