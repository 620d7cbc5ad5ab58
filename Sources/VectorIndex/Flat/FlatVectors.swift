/// Vectors searched exactly, by a full scan: where a collection keeps what it has accepted but
/// not yet linked into its graph, so a write is searchable the moment it is acknowledged while
/// the HNSW insert (the expensive part) happens in the background.
///
/// Distances are the index's own (`DistanceMetric`; cosine vectors are normalised on append),
/// so results merge with an `HNSWIndex`'s by distance. Not synchronised: its owner reads it
/// under a shared lock and changes it under an exclusive one. Removal swaps the last vector
/// into the hole, so memory stays proportional to what is held.
public struct FlatVectors: Sendable {
    public let dimension: Int
    public let metric: DistanceMetric
    public private(set) var labels: [UInt64] = []
    private(set) var components: [Float] = []
    private var positions: [UInt64: Int] = [:]

    public init(dimension: Int, metric: DistanceMetric) {
        self.dimension = dimension
        self.metric = metric
    }

    public var count: Int { labels.count }
    public var isEmpty: Bool { labels.isEmpty }
    public func contains(_ label: UInt64) -> Bool { positions[label] != nil }

    /// Adds or replaces `label`'s vector. The vector was validated by the caller (finite, of
    /// the dimension); a zero vector under cosine stays zero and is never nearest.
    public mutating func append(_ label: UInt64, _ vector: [Float]) {
        precondition(vector.count == dimension, "FlatVectors: a vector of \(vector.count) components, not \(dimension)")
        var v = vector
        if metric == .cosine { FlatVectors.normalise(&v) }
        if let at = positions[label] {
            components.replaceSubrange(at * dimension..<(at + 1) * dimension, with: v)
            return
        }
        positions[label] = labels.count
        labels.append(label)
        components.append(contentsOf: v)
    }

    /// The vector held for `label`, as appended (normalised for cosine).
    public func vector(_ label: UInt64) -> [Float]? {
        guard let at = positions[label] else { return nil }
        return Array(components[at * dimension..<(at + 1) * dimension])
    }

    @discardableResult
    public mutating func remove(_ label: UInt64) -> Bool {
        guard let at = positions.removeValue(forKey: label) else { return false }
        let last = labels.count - 1
        if at != last {
            labels[at] = labels[last]
            positions[labels[at]] = at
            components.withUnsafeMutableBufferPointer { c in
                (c.baseAddress! + at * dimension).update(from: c.baseAddress! + last * dimension, count: dimension)
            }
        }
        labels.removeLast()
        components.removeLast(dimension)
        return true
    }

    /// The `k` nearest held vectors passing `accept`, nearest first. `query` has the
    /// dimension (the caller checked); for cosine it is normalised here.
    public func search(_ query: UnsafeBufferPointer<Float>, k: Int, accept: ((UInt64) -> Bool)? = nil) -> [SearchResult] {
        guard k > 0, !labels.isEmpty else { return [] }
        var q = Array(query)
        if metric == .cosine { FlatVectors.normalise(&q) }
        let kernels = DistanceKernels.best
        var best: [SearchResult] = []
        best.reserveCapacity(k + 1)
        q.withUnsafeBufferPointer { qp in
            components.withUnsafeBufferPointer { c in
                for (i, label) in labels.enumerated() {
                    if let accept, !accept(label) { continue }
                    let d = kernels.distance(metric, qp.baseAddress!, f32: c.baseAddress! + i * dimension, dimension)
                    if best.count == k, d >= best[k - 1].distance { continue }
                    // Insertion into a short sorted list: k is small next to what is scanned.
                    var j = best.count
                    while j > 0 && best[j - 1].distance > d { j -= 1 }
                    best.insert(SearchResult(id: label, distance: d), at: j)
                    if best.count > k { best.removeLast() }
                }
            }
        }
        return best
    }

    /// To unit length, as the graph stores cosine vectors (a zero vector stays zero).
    static func normalise(_ v: inout [Float]) {
        var norm: Float = 0
        for x in v { norm += x * x }
        guard norm > 0, norm.isFinite else { return }
        let scale = 1 / norm.squareRoot()
        for i in 0..<v.count { v[i] *= scale }
    }
}
