import Redis
import Testing

@Suite struct RedisSentinelURLTests {
    @Test func readsSentinelsDatabaseMasterNameAndBothPasswords() throws {
        let configuration = try RedisConfiguration(
            url: "redis-sentinel://ops:data%40pw@10.0.0.1:26380,10.0.0.2,[::1]:26999/2?timeout=0.5&sentinel_password=s%23pw#main%2Fone")
        let sentinel = try #require(configuration.sentinel)
        #expect(sentinel.sentinels == [.tcp(host: "10.0.0.1", port: 26380), .tcp(host: "10.0.0.2", port: 26379), .tcp(host: "::1", port: 26999)])
        #expect(sentinel.masterName == "main/one")
        #expect(sentinel.password == "s#pw")
        #expect(configuration.username == "ops")
        #expect(configuration.password == "data@pw")
        #expect(configuration.database == 2)
        #expect(configuration.commandTimeout == .milliseconds(500))
    }

    @Test func aURLWrittenBackReadsAsTheSameConfiguration() throws {
        let configuration = try RedisConfiguration(
            url: "redis-sentinel://:pw@127.0.0.1:26001,127.0.0.1:26002/1?connect_timeout=0.25&sentinel_password=x#opsmain")
        #expect(try RedisConfiguration(url: configuration.url(redactingPassword: false)) == configuration)
    }

    @Test func theDescriptionShowsNeitherPassword() throws {
        let configuration = try RedisConfiguration(url: "redis-sentinel://:datasecret@h1,h2/0?sentinel_password=sentinelsecret#m")
        #expect(!configuration.description.contains("datasecret"))
        #expect(!configuration.description.contains("sentinelsecret"))
        #expect(configuration.description.contains("h1:26379,h2:26379"))
    }

    @Test(arguments: [
        "redis-sentinel://127.0.0.1:26379",                   // no master name
        "redis-sentinel://127.0.0.1:26379#",                  // empty master name
        "redis-sentinel://127.0.0.1:26379,,127.0.0.1:2#m",    // empty sentinel address
        "redis-sentinel://127.0.0.1:0#m",                     // bad port
        "redis-sentinel://127.0.0.1/x#m",                     // bad database
        "redis-sentinel://127.0.0.1?color=red#m",             // unknown parameter
        "redis://127.0.0.1:6379/0?sentinel_password=pw",      // sentinel parameter without sentinels
    ])
    func malformedSentinelURLsAreRefused(url: String) {
        #expect(throws: RedisError.self) { try RedisConfiguration(url: url) }
    }

    @Test func anErrorNeverShowsThePasswords() {
        for url in ["redis-sentinel://:hunter2@127.0.0.1:26379", "redis-sentinel://u:hunter2@h:99999#m",
                    "redis-sentinel://h?sentinel_password=%zzhunter2#m"] {
            do {
                _ = try RedisConfiguration(url: url)
                Issue.record("\(url) was accepted")
            } catch {
                #expect(!error.description.contains("hunter2"))
            }
        }
    }
}
