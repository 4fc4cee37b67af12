import Redis
import Testing

/// The Cluster key-to-slot rule, checked against the Redis cluster specification.
@Suite struct RedisHashSlotTests {
    @Test func crc16OfTheSpecificationsTestVectorGivesItsSlot() {
        // The specification: CRC16 of "123456789" is 0x31C3; 0x31C3 mod 16384 is 12739.
        #expect(RedisHashSlot.slot(of: Array("123456789".utf8)) == 0x31C3 % 16_384)
    }

    /// Slots `CLUSTER KEYSLOT` gives on redis-server 7.0 for these keys.
    @Test(arguments: [("opscore:{a}:events", 15_495), ("foo{}{bar}", 8_363), ("foo{{bar}}zap", 4_015)])
    func slotsMatchWhatRedisComputes(key: String, slot: Int) {
        #expect(RedisHashSlot.slot(of: Array(key.utf8)) == slot)
    }

    @Test(arguments: [
        ("{user1000}.following", "{user1000}.followers", true),
        ("foo{}{bar}", "foo{}{baz}", false),       // the first {} is empty: the whole key is hashed
        ("foo{{bar}}zap", "{bar", true),            // the tag is "{bar"
        ("foo{bar}{zap}", "bar", true),             // only the first tag counts
    ])
    func keysWithTheSameTagShareASlot(first: String, second: String, same: Bool) {
        let a = RedisHashSlot.slot(of: Array(first.utf8)), b = RedisHashSlot.slot(of: Array(second.utf8))
        #expect((a == b) == same, "\(first) → \(a), \(second) → \(b)")
    }

    @Test func everySlotIsBelowTheSlotCount() {
        for key in ["", "a", "{", "}", "{}", "opscore:meta", String(repeating: "x", count: 1000)] {
            #expect((0..<RedisHashSlot.count).contains(RedisHashSlot.slot(of: Array(key.utf8))))
        }
    }
}
