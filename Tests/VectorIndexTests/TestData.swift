import Foundation
import TestSupport
@testable import VectorIndex

/// Points around `clusters` random centres: a stand-in for real embeddings that is small
/// enough for debug builds yet not trivially separable.
func clusteredData(count: Int, dimension: Int, clusters: Int = 40, spread: Float = 0.35, seed: UInt64) -> [[Float]] {
    var rng = SplitMix(state: seed)
    let centres = (0..<clusters).map { _ in (0..<dimension).map { _ in Float.random(in: -1...1, using: &rng) } }
    return (0..<count).map { _ in
        let c = centres[Int.random(in: 0..<clusters, using: &rng)]
        return c.map { $0 + spread * rng.gaussian() }
    }
}

func exactDistance(_ metric: DistanceMetric, _ a: [Float], _ b: [Float]) -> Double {
    var dot = 0.0, na = 0.0, nb = 0.0, l2 = 0.0
    for i in 0..<a.count {
        let x = Double(a[i]), y = Double(b[i])
        dot += x * y
        na += x * x
        nb += y * y
        l2 += (x - y) * (x - y)
    }
    switch metric {
    case .l2: return l2
    case .innerProduct: return 1 - dot
    case .cosine: return 1 - dot / (na.squareRoot() * nb.squareRoot())
    }
}

/// Exact top-k ids among `ids` (brute force, double precision).
func exactTopK(_ metric: DistanceMetric, query: [Float], data: [[Float]], ids: [Int], k: Int) -> [UInt64] {
    var scored: [(id: Int, distance: Double)] = ids.map { ($0, exactDistance(metric, query, data[$0])) }
    scored.sort { (a: (id: Int, distance: Double), b: (id: Int, distance: Double)) -> Bool in
        a.distance < b.distance || (a.distance == b.distance && a.id < b.id)
    }
    return scored.prefix(k).map { UInt64($0.id) }
}

func recall(_ got: [[UInt64]], _ truth: [[UInt64]]) -> Double {
    var hits = 0, total = 0
    for (g, t) in zip(got, truth) {
        hits += Set(g).intersection(t).count
        total += t.count
    }
    return Double(hits) / Double(max(total, 1))
}

func buildIndex(_ data: [[Float]], metric: DistanceMetric, precision: VectorPrecision? = nil, m: Int = 12, efConstruction: Int = 80) throws -> HNSWIndex {
    let dimension = data[0].count
    let index = try HNSWIndex(dimension: dimension, metric: metric,
                              parameters: HNSWParameters(m: m, efConstruction: efConstruction, defaultEf: 64, precision: precision, initialCapacity: 64))
    try index.add(ids: (0..<data.count).map(UInt64.init), vectors: data.flatMap { $0 }, threads: 2)
    return index
}
