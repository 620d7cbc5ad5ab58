/// The graph's shape and build effort (Malkov & Yashunin's M and efConstruction).
public struct HNSWParameters: Sendable, Equatable {
    /// Links per node on the upper levels; level 0 keeps 2M.
    public var m: Int = 16
    /// Beam width while inserting: larger builds a better graph, more slowly.
    public var efConstruction: Int = 200
    /// Beam width of a search when the caller gives none.
    public var defaultEf: Int = 64
    /// Storage precision; nil picks float16 for cosine (unit vectors: no overflow, recall
    /// unchanged, half the memory and bytes per distance) and float32 for ip and l2, whose
    /// magnitudes are unbounded.
    public var precision: VectorPrecision? = nil
    /// After the heuristic has chosen a node's neighbours, fill the remaining slots with the
    /// closest pruned candidates (hnswlib's keepPrunedConnections).
    public var keepPrunedConnections = false
    /// Seed of the level generator: the same seed and insertion order give the same graph.
    public var seed: UInt64 = 0x5EED
    /// Slots allocated up front; the index grows by doubling.
    public var initialCapacity: Int = 1024

    public init(m: Int = 16, efConstruction: Int = 200, defaultEf: Int = 64, precision: VectorPrecision? = nil,
                keepPrunedConnections: Bool = false, seed: UInt64 = 0x5EED, initialCapacity: Int = 1024) {
        self.m = m
        self.efConstruction = efConstruction
        self.defaultEf = defaultEf
        self.precision = precision
        self.keepPrunedConnections = keepPrunedConnections
        self.seed = seed
        self.initialCapacity = initialCapacity
    }

    var maxM0: Int { 2 * m }
}
