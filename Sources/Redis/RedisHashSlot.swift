/// Redis Cluster's key-to-slot rule: CRC16 (XMODEM) of the key, modulo 16384,
/// where a key holding a non-empty `{tag}` is hashed by the tag alone (the
/// first `{`, then the first `}` after it). Keys with the same tag share a slot,
/// which is what lets one transaction touch several keys on a Cluster.
public enum RedisHashSlot {
    /// The number of slots in a Redis Cluster.
    public static let count = 16_384

    /// The slot of a key.
    public static func slot(of key: some Collection<UInt8>) -> Int {
        Int(crc16(hashedPart(of: Array(key))) & UInt16(count - 1))
    }

    /// The part of the key that is hashed: the `{tag}` when it has a non-empty one.
    static func hashedPart(of key: [UInt8]) -> ArraySlice<UInt8> {
        guard let open = key.firstIndex(of: UInt8(ascii: "{")),
              let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1 else { return key[...] }
        return key[(open + 1)..<close]
    }

    /// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, no reflection.
    static func crc16(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        return crc
    }
}
