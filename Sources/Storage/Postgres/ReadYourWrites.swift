import Net

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
