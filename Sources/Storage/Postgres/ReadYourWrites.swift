import Net

/// A point in PostgreSQL's write-ahead log (an LSN), as the server spells it: two hexadecimal
/// halves, `16/B374D848`. It is also the read-your-writes token the gateway hands a client
/// after a write (`X-AIWriter-Read-After`), so it parses hostile text without trapping.
public struct WALPosition: Sendable, Comparable, CustomStringConvertible {
    public let value: UInt64

    public init(_ value: UInt64) { self.value = value }

    /// `nil` unless `text` is `hex/hex` with each half at most 8 digits (what the server prints).
    public init?(_ text: some StringProtocol) {
        var high: UInt64 = 0, low: UInt64 = 0, digits = 0, sawSlash = false
        for byte in text.utf8 {
            if byte == UInt8(ascii: "/") {
                guard !sawSlash, digits > 0 else { return nil }
                sawSlash = true
                digits = 0
                continue
            }
            let nibble: UInt64
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = UInt64(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = UInt64(byte - UInt8(ascii: "A") + 10)
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = UInt64(byte - UInt8(ascii: "a") + 10)
            default: return nil
            }
            digits += 1
            guard digits <= 8 else { return nil }
            if sawSlash { low = low << 4 | nibble } else { high = high << 4 | nibble }
        }
        guard sawSlash, digits > 0 else { return nil }
        value = high << 32 | low
    }

    public var description: String {
        String(value >> 32, radix: 16, uppercase: true) + "/" + String(value & 0xFFFF_FFFF, radix: 16, uppercase: true)
    }

    /// Beyond any position a standby will reach: a read that must go to the primary.
    public static let newest = WALPosition(UInt64.max)

    public static func < (a: WALPosition, b: WALPosition) -> Bool { a.value < b.value }
}

/// How far one loop knows the standby has replayed, for reads that must see a client's own
/// writes.
///
/// **Why a position and not a sticky session.** Replicas of the gateway share nothing but the
/// databases, and a client's next request may reach any of them; a session pinned to one
/// replica would not survive the balancer. The client carries the position instead (the
/// token after its write, as Cosmos DB's session token or MongoDB's `afterClusterTime`): a
/// read that names one goes to the standby only once the standby has replayed that far,
/// otherwise to the primary. The standby's position is learnt by asking it
/// (`pg_last_wal_replay_lsn()`), at most one question in flight per loop, and only when a
/// read needs a position beyond what is known — replay only moves forward, so a known
/// position is never wrong, only old: the cost of being old is a read on the primary.
///
/// Loop-local: owned by one loop, never locked.
final class ReplicaReplay {
    private(set) var replayed: UInt64 = 0
    private var asking = false
    /// The primary's end of WAL after the latest write this loop committed: what a client that
    /// saw that write must be able to read back.
    private(set) var lastCommit: UInt64 = 0

    static let replayLSN = Query("replica_replay_lsn", postgres: "SELECT pg_last_wal_replay_lsn()::text", sqlite: "SELECT NULL",
                                 parameters: 0)

    func noteCommit(_ position: UInt64) {
        if position > lastCommit { lastCommit = position }
    }

    /// Whether a read after `position` may use the standby now; when not, the standby is asked
    /// (in the background) how far it has come, for the reads after this one.
    func standbyHasReplayed(_ position: UInt64, replica: PostgresPool, loop: EventLoop) -> Bool {
        if position <= replayed { return true }
        if position != WALPosition.newest.value, !asking {
            asking = true
            replica.run(PostgresOperation(statements: [ReplicaReplay.replayLSN()], readOnly: true, enqueuedAt: loop.nowMilliseconds) {
                [self] result in
                asking = false
                // NULL (not a standby: replay position unknown) leaves the primary answering.
                if case .success(let results) = result, case .text(let text)? = results.first?.rows.first?.first,
                   let position = WALPosition(text), position.value > replayed {
                    replayed = position.value
                }
            })
        }
        return false
    }
}
