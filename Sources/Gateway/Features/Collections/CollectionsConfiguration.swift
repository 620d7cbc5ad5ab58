import Storage

/// The collections feature's settings (keys `max-batch-size`, `collection-follow-interval`,
/// `snapshot-interval`, `change-log-retention`, `chroma-allow-reset` in the one configuration table).
public struct CollectionsConfiguration: Sendable, Equatable {
    /// Records per write, advertised to Chroma's client as `max_batch_size`; a batch is one
    /// transaction, stored whole or not at all.
    public var maxBatchSize = 10_000
    /// How often each replica polls the database for collections changed by other replicas.
    public var followIntervalMs: UInt64 = 250
    /// How often an index that changed is written to its snapshot.
    public var snapshotIntervalMs: UInt64 = 60_000
    /// Changes kept in each collection's log (older ones are trimmed with the snapshots);
    /// a replica further behind than this reloads the collection from its rows.
    public var retainedChanges: Int64 = 100_000
    /// Chroma's `POST /reset` (deletes the caller's tenant's collections) is refused unless set.
    public var allowReset = false

    public init() {}
}
