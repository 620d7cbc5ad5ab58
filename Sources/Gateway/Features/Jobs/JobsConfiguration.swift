/// The generation jobs' settings: keys `jobs-workers`, `jobs-lease`, `jobs-max-attempts`,
/// `jobs-retry-backoff`, `jobs-poll-interval`, `jobs-embedding-model` and
/// `jobs-max-request-bytes`, and `schedules`, in the one configuration table.
public struct JobsConfiguration: Sendable, Equatable {
    /// Jobs this process runs at once (`serve` and `worker` alike); 0: `serve` runs none, and
    /// leaves them to `aiwriter worker` processes.
    public var workers = 4
    /// How long a claim lasts past its last heartbeat (heartbeats come every third of it):
    /// how soon another worker takes over the job of one that died.
    public var leaseMs: UInt64 = 30_000
    public var maxAttempts = 3
    /// The first retry's wait; each next one doubles it (with jitter), up to a minute.
    public var retryBackoffMs: UInt64 = 1_000
    /// How often an idle worker asks for a job.
    public var pollIntervalMs: UInt64 = 200
    /// The `ai-models` entry that embeds a job's answer into its collection, unless the job
    /// names one (`embedding_model`).
    public var embeddingModel = ""
    /// The largest `POST /v1/generations` body (413 above it).
    public var maximumRequestBytes = 1 << 20
    /// Scheduled jobs (`schedules`): one runner across every process sharing the database.
    public var schedules = ScheduleConfiguration.defaults

    public init() {}
}
