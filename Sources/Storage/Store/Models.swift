/// A customer: every other object belongs to one.
public struct Tenant: Sendable, Equatable {
    public var id: String
    public var name: String
    public var createdAt: Int64
}

/// What a key may do within its tenant.
public enum Role: String, Sendable, CaseIterable {
    /// Keys and everything else in its tenant.
    case admin
    /// Read and write in its tenant.
    case writer
    /// Read only.
    case reader
}

/// A stored API key: only the SHA-256 of its secret is kept.
public struct APIKeyRecord: Sendable, Equatable {
    public var id: String
    public var tenantID: String
    public var name: String
    public var hash: [UInt8]
    public var role: Role
    /// Requests per second and burst; nil takes the configured default.
    public var ratePerSecond: Double?
    public var burst: Int64?
    public var tokensPerMinute: Int64?
    public var createdAt: Int64
    public var revokedAt: Int64?

    public init(id: String, tenantID: String, name: String, hash: [UInt8], role: Role, ratePerSecond: Double? = nil,
                burst: Int64? = nil, tokensPerMinute: Int64? = nil, createdAt: Int64 = 0, revokedAt: Int64? = nil) {
        self.id = id
        self.tenantID = tenantID
        self.name = name
        self.hash = hash
        self.role = role
        self.ratePerSecond = ratePerSecond
        self.burst = burst
        self.tokensPerMinute = tokensPerMinute
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}

/// A writing document; each update makes a new version, kept in its history.
public struct Document: Sendable, Equatable {
    public var id: Int64
    public var tenantID: String
    public var title: String
    public var body: String
    /// A JSON object, as text.
    public var metadata: String
    public var version: Int64
    public var createdAt: Int64
    public var updatedAt: Int64
    /// `text/markdown`, `text/plain` or `text/html`.
    public var contentType: String = "text/markdown"
}

public struct DocumentVersion: Sendable, Equatable {
    public var documentID: Int64
    public var version: Int64
    public var title: String
    public var body: String
    public var metadata: String
    public var createdAt: Int64
    public var contentType: String = "text/markdown"
}

/// One page of a keyset-paged listing: pass `next` back as `after` for the following page.
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    public var next: Int64?
}

/// The distance a collection's vectors are compared by.
public enum CollectionMetric: String, Sendable, CaseIterable {
    case cosine, ip, l2
}

/// A named set of vectors of one dimension, with the HNSW parameters its index is built with.
/// It lives in a database (a namespace inside the tenant; `default_database` always exists)
/// and is also addressed by a UUID, as Chroma's clients address it.
public struct VectorCollection: Sendable, Equatable {
    public var id: Int64
    public var tenantID: String
    public var database: String
    public var name: String
    public var uuid: String
    /// Nil until the first write fixes it, when the collection was made without one.
    public var dimension: Int?
    public var metric: CollectionMetric
    public var m: Int
    public var efConstruction: Int
    /// The default search breadth of queries that name none.
    public var efSearch: Int
    /// A JSON object, or nil when the collection has none.
    public var metadata: String?
    /// A client's configuration object (JSON), kept as sent; nil when none was.
    public var configuration: String?
    /// The sequence number of the collection's latest change.
    public var lastSequence: Int64
    public var createdAt: Int64
}

/// What a new collection is made of; `Store.createCollection` validates every field.
public struct CollectionSpec: Sendable, Equatable {
    public var database: String
    public var name: String
    /// Nil: the first write fixes it.
    public var dimension: Int?
    public var metric: CollectionMetric
    public var m: Int
    public var efConstruction: Int
    public var efSearch: Int
    public var metadata: String?
    public var configuration: String?

    public init(database: String = CollectionDatabase.defaultName, name: String, dimension: Int?, metric: CollectionMetric,
                m: Int = 16, efConstruction: Int = 200, efSearch: Int = 100, metadata: String? = nil, configuration: String? = nil) {
        self.configuration = configuration
        self.database = database
        self.name = name
        self.dimension = dimension
        self.metric = metric
        self.m = m
        self.efConstruction = efConstruction
        self.efSearch = efSearch
        self.metadata = metadata
    }
}

/// A namespace of collections inside a tenant.
public struct CollectionDatabase: Sendable, Equatable {
    /// Exists in every tenant without being created, and cannot be deleted.
    public static let defaultName = "default_database"
    public var tenantID: String
    public var name: String
    public var uuid: String
    public var createdAt: Int64
}

/// A stored record without its vector: what an index needs to map its labels back to ids,
/// and to filter by metadata and document.
public struct RecordSummary: Sendable, Equatable {
    public var id: String
    public var metadata: String
    public var document: String?
    public var sequence: Int64

    public init(id: String, metadata: String, document: String?, sequence: Int64) {
        self.id = id
        self.metadata = metadata
        self.document = document
        self.sequence = sequence
    }
}

/// A vector to store, with its external id, metadata (a JSON object) and document text.
public struct RecordInput: Sendable, Equatable {
    public var id: String
    public var vector: [Float]
    public var metadata: String?
    public var document: String?

    public init(id: String, vector: [Float], metadata: String? = nil, document: String? = nil) {
        self.id = id
        self.vector = vector
        self.metadata = metadata
        self.document = document
    }
}

public struct VectorRecord: Sendable, Equatable {
    public var id: String
    public var vector: [Float]
    public var metadata: String
    public var document: String?
    /// The change that wrote this version of the record.
    public var sequence: Int64
}

/// One entry of a collection's change log, in sequence order: what an index replays to
/// catch up. For an upsert that is still the record's latest version, `record` holds it;
/// nil means a later change superseded it (that change carries the newer version).
public struct Change: Sendable, Equatable {
    public enum Operation: String, Sendable { case upsert, delete }
    public var sequence: Int64
    public var id: String
    public var operation: Operation
    public var record: VectorRecord?

    public var vector: [Float]? { record?.vector }
}

/// The outcome of a batch write: how many ids it touched and the collection's sequence after it.
public struct WriteReceipt: Sendable, Equatable {
    public var count: Int
    public var lastSequence: Int64

    public init(count: Int, lastSequence: Int64) {
        self.count = count
        self.lastSequence = lastSequence
    }
}

/// A queued generation job.
public struct Job: Sendable, Equatable {
    public enum State: String, Sendable, CaseIterable {
        case queued, running, succeeded, failed, cancelled
        /// Whether the job is over: it changes no more.
        public var isFinal: Bool { self == .succeeded || self == .failed || self == .cancelled }
    }
    public var id: Int64
    public var tenantID: String
    public var kind: String
    /// A JSON object, as text: what the job is asked to do.
    public var payload: String
    public var state: State
    /// Claims so far (the running one included).
    public var attempts: Int
    public var maxAttempts: Int
    /// Not claimed before this (ms since 1970): the backoff after a failed attempt.
    public var runAfter: Int64
    /// A JSON object, as text, once succeeded.
    public var result: String?
    /// The last attempt's failure.
    public var error: String?
    public var createdAt: Int64 = 0
    public var updatedAt: Int64 = 0
    /// The current claim's token: only its holder may heartbeat, complete, fail or release.
    public var claim: String?
    public var cancelRequested = false
    public var idempotencyKey: String?
    /// What the request that queued it hashed to, for telling a retry from a different
    /// request under the same idempotency key.
    public var requestHash: String?
    /// The document version the job wrote (generation jobs).
    public var documentID: Int64?
    public var documentVersion: Int64?

    public init(id: Int64, tenantID: String, kind: String, payload: String, state: State, attempts: Int, maxAttempts: Int,
                runAfter: Int64, result: String? = nil, error: String? = nil) {
        self.id = id
        self.tenantID = tenantID
        self.kind = kind
        self.payload = payload
        self.state = state
        self.attempts = attempts
        self.maxAttempts = maxAttempts
        self.runAfter = runAfter
        self.result = result
        self.error = error
    }
}

/// One event of a job's life, as `GET /v1/generations/{id}/events` replays it: ids grow, so
/// `Last-Event-ID` resumes after the last one seen.
public struct JobEvent: Sendable, Equatable {
    public var id: Int64
    public var jobID: Int64
    public var type: String
    /// A JSON object, as text.
    public var data: String
    public var at: Int64
}

/// What a document write of a job is: a new document, or a new version of one.
public struct JobDocumentWrite: Sendable {
    /// The document to add a version to; nil: a new document.
    public var documentID: Int64?
    public var title: String
    public var body: String
    public var contentType: String
    public var metadata: String

    public init(documentID: Int64?, title: String, body: String, contentType: String = "text/markdown", metadata: String = "{}") {
        self.documentID = documentID
        self.title = title
        self.body = body
        self.contentType = contentType
        self.metadata = metadata
    }
}

/// What one request consumed.
public struct UsageRow: Sendable, Equatable {
    public var tenantID: String
    public var keyID: String?
    public var route: String
    public var promptTokens: Int64
    public var completionTokens: Int64
    /// Milliseconds since 1970 (`Store.now`).
    public var at: Int64
    /// The model the client asked for, the `provider/model` that answered, the status sent,
    /// the time the call took, and the cache outcome (`hit`, `miss`, `bypass`).
    public var model: String?
    public var target: String?
    public var status: Int
    public var latencyMs: Int64
    public var cache: String?

    public init(tenantID: String, keyID: String?, route: String, promptTokens: Int64, completionTokens: Int64, at: Int64,
                model: String? = nil, target: String? = nil, status: Int = 0, latencyMs: Int64 = 0, cache: String? = nil) {
        self.tenantID = tenantID
        self.keyID = keyID
        self.route = route
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.at = at
        self.model = model
        self.target = target
        self.status = status
        self.latencyMs = latencyMs
        self.cache = cache
    }
}

/// One line of a usage summary: a key's calls to a model on one UTC day.
public struct UsageSummary: Sendable, Equatable {
    /// Days since 1970 (UTC).
    public var day: Int64
    public var keyID: String?
    public var model: String?
    public var requests: Int64
    public var promptTokens: Int64
    public var completionTokens: Int64
    /// Calls answered from the cache, and calls that ended in an error status (≥ 400).
    public var cacheHits: Int64
    public var errors: Int64

    public init(day: Int64, keyID: String?, model: String?, requests: Int64, promptTokens: Int64, completionTokens: Int64,
                cacheHits: Int64, errors: Int64) {
        self.day = day
        self.keyID = keyID
        self.model = model
        self.requests = requests
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cacheHits = cacheHits
        self.errors = errors
    }
}

public struct UsageTotals: Sendable, Equatable {
    public var requests: Int64
    public var promptTokens: Int64
    public var completionTokens: Int64

    public init(requests: Int64, promptTokens: Int64, completionTokens: Int64) {
        self.requests = requests
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }
}
