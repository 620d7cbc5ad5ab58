import Foundation
import Testing
import TestSupport
import VectorKernels
@testable import VectorIndex

@Suite("HNSW index")
struct HNSWIndexTests {
    static let data = clusteredData(count: 3000, dimension: 24, seed: 1)
    static let queries = clusteredData(count: 100, dimension: 24, seed: 2)

    @Test("recall@10 ≥ 0.95 on clustered data", arguments: [
        (DistanceMetric.cosine, VectorPrecision?.none), (.l2, nil), (.innerProduct, nil), (.cosine, .float32), (.l2, .float16),
    ])
    func recallAtTen(_ metric: DistanceMetric, _ precision: VectorPrecision?) throws {
        let index = try buildIndex(Self.data, metric: metric, precision: precision)
        #expect(index.count == Self.data.count)
        let all = Array(0..<Self.data.count)
        var got: [[UInt64]] = [], truth: [[UInt64]] = []
        for q in Self.queries {
            let results = try index.search(q, k: 10, ef: 64)
            #expect(results.count == 10)
            #expect(zip(results, results.dropFirst()).allSatisfy { $0.distance <= $1.distance })
            got.append(results.map(\.id))
            truth.append(exactTopK(metric, query: q, data: Self.data, ids: all, k: 10))
        }
        let r = recall(got, truth)
        #expect(r >= 0.95, "recall \(r) for \(metric) \(String(describing: precision))")
        // Reported distances are the metric's (within float16 rounding).
        let first = try index.search(Self.queries[0], k: 1)[0]
        let exact = exactDistance(metric, Self.queries[0], Self.data[Int(first.id)])
        #expect(abs(Double(first.distance) - exact) < 1e-2 * max(1, abs(exact)))
    }

    @Test func badVectorsAreRejectedAndNothingIsAdded() throws {
        let index = try HNSWIndex(dimension: 4, metric: .cosine)
        #expect(throws: VectorIndexError.dimensionMismatch(expected: 4, got: 3)) { try index.add(id: 1, vector: [1, 2, 3]) }
        #expect(throws: VectorIndexError.nonFiniteComponent(index: 2)) { try index.add(id: 1, vector: [1, 2, .nan, 4]) }
        #expect(throws: VectorIndexError.nonFiniteComponent(index: 0)) { try index.add(id: 1, vector: [.infinity, 2, 3, 4]) }
        #expect(throws: VectorIndexError.zeroVectorForCosine) { try index.add(id: 1, vector: [0, 0, 0, 0]) }
        // A batch with one bad vector adds none.
        #expect(throws: VectorIndexError.self) {
            try index.add(ids: [1, 2, 3], vectors: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, .nan, 0])
        }
        #expect(index.count == 0)
        #expect(throws: VectorIndexError.dimensionMismatch(expected: 4, got: 2)) { try index.search([1, 2], k: 1) }
        #expect(try index.search([1, 0, 0, 0], k: 5).isEmpty)
        let l2half = try HNSWIndex(dimension: 2, metric: .l2, parameters: HNSWParameters(precision: .float16))
        #expect(throws: VectorIndexError.outOfFloat16Range(index: 1)) { try l2half.add(id: 1, vector: [1, 70000]) }
        // Huge but finite components still have a direction.
        try index.add(id: 9, vector: [Float.greatestFiniteMagnitude, Float.greatestFiniteMagnitude, 0, 0])
        #expect(try index.search([1, 1, 0, 0], k: 1).first?.id == 9)
    }

    @Test func removeHidesIdsAndSlotsAreReused() throws {
        let index = try buildIndex(Self.data, metric: .l2)
        let removed = Set((0..<3000).filter { $0 % 3 == 0 }.map(UInt64.init))
        for id in removed { #expect(index.remove(id: id)) }
        #expect(!index.remove(id: 0))
        #expect(index.count == 2000)
        let slotsBefore = index.slotCount.load(ordering: .relaxed)
        for q in Self.queries.prefix(30) {
            let results = try index.search(q, k: 10, ef: 64)
            #expect(results.count == 10)
            #expect(results.allSatisfy { !removed.contains($0.id) })
        }
        // New ids take freed slots: the index does not grow.
        let fresh = clusteredData(count: 200, dimension: 24, seed: 9)
        for (i, v) in fresh.enumerated() { try index.add(id: 10_000 + UInt64(i), vector: v) }
        #expect(index.slotCount.load(ordering: .relaxed) == slotsBefore)
        #expect(index.count == 2200)
        for (i, v) in fresh.prefix(20).enumerated() {
            #expect(try index.search(v, k: 1, ef: 64).first?.id == 10_000 + UInt64(i))
        }
        // Recall over what is live stays high after reuse.
        let liveIDs = (0..<3000).filter { $0 % 3 != 0 }
        var got: [[UInt64]] = [], truth: [[UInt64]] = []
        for q in Self.queries.prefix(40) {
            got.append(try index.search(q, k: 10, ef: 96).map(\.id).filter { $0 < 10_000 })
            truth.append(exactTopK(.l2, query: q, data: Self.data, ids: liveIDs, k: 10))
        }
        // The fresh points may legitimately take places in the top 10, so compare by subset.
        let hits = zip(got, truth).reduce(0) { $0 + Set($1.0).intersection($1.1).count }
        let possible = got.reduce(0) { $0 + $1.count }
        #expect(Double(hits) / Double(max(possible, 1)) >= 0.9)
    }

    @Test func updateReplacesTheVector() throws {
        let index = try buildIndex(Self.data, metric: .cosine)
        let target = Self.data[2999]
        try index.add(id: 5, vector: target)
        #expect(index.count == 3000)
        let top = try index.search(target, k: 2, ef: 64).map(\.id)
        #expect(Set(top) == [5, 2999])
        let stored = try #require(index.vector(for: 5))
        let norm = target.reduce(0) { $0 + $1 * $1 }.squareRoot()
        for (a, b) in zip(stored, target) { #expect(abs(a - b / norm) < 1e-3) }
    }

    @Test("filtered search keeps recall at 50%, 5% and 0.5% selectivity", arguments: [2, 20, 200])
    func filteredSearch(_ modulus: Int) throws {
        let index = try buildIndex(Self.data, metric: .l2)
        let allowed = (0..<Self.data.count).filter { $0 % modulus == 0 }
        let allowedIDs = Set(allowed.map(UInt64.init))
        for filter in [SearchFilter.allowing(allowedIDs), .predicate({ Int($0) % modulus == 0 })] {
            var got: [[UInt64]] = [], truth: [[UInt64]] = []
            for q in Self.queries.prefix(50) {
                let results = try index.search(q, k: 10, ef: 64, filter: filter)
                #expect(results.allSatisfy { allowedIDs.contains($0.id) })
                #expect(results.count == min(10, allowed.count))
                got.append(results.map(\.id))
                truth.append(exactTopK(.l2, query: q, data: Self.data, ids: allowed, k: 10))
            }
            let r = recall(got, truth)
            #expect(r >= 0.95, "selectivity 1/\(modulus): recall \(r)")
        }
    }

    @Test func parallelInsertsAndSearches() async throws {
        let index = try HNSWIndex(dimension: 24, metric: .cosine, parameters: HNSWParameters(m: 12, efConstruction: 64, initialCapacity: 16))
        try index.add(ids: (0..<500).map(UInt64.init), vectors: Self.data.prefix(500).flatMap { $0 })
        let data = Self.data
        let queries = Self.queries
        let searches = try await withThrowingTaskGroup(of: Int.self) { group in
            for w in 0..<2 {
                group.addTask {
                    // Interleaved ids; growth of the buffers happens while searches run.
                    for i in stride(from: 500 + w, to: 3000, by: 2) { try index.add(id: UInt64(i), vector: data[i]) }
                    return 0
                }
            }
            for s in 0..<2 {
                group.addTask {
                    var done = 0
                    for i in 0..<400 {
                        let r = try index.search(queries[(i + s) % queries.count], k: 10, ef: 32)
                        if !r.isEmpty { done += 1 }
                    }
                    return done
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(searches == 800)
        #expect(index.count == 3000)
        var got: [[UInt64]] = [], truth: [[UInt64]] = []
        for q in Self.queries.prefix(50) {
            got.append(try index.search(q, k: 10, ef: 100).map(\.id))
            truth.append(exactTopK(.cosine, query: q, data: Self.data, ids: Array(0..<3000), k: 10))
        }
        #expect(recall(got, truth) >= 0.95)
    }
}

@Suite("HNSW snapshots")
struct SnapshotTests {
    func temporaryPath() -> String { NSTemporaryDirectory() + "hnsw-\(UUID().uuidString).snap" }

    @Test(arguments: [DistanceMetric.cosine, .l2])
    func roundTripGivesIdenticalResults(_ metric: DistanceMetric) throws {
        let data = clusteredData(count: 1500, dimension: 16, seed: 3)
        let index = try buildIndex(data, metric: metric)
        for id in stride(from: 0, to: 1500, by: 7) { index.remove(id: UInt64(id)) }
        let path = temporaryPath()
        defer { unlink(path) }
        try index.save(to: path)
        let loaded = try HNSWIndex.load(from: path)
        #expect(loaded.count == index.count)
        #expect(loaded.metric == metric && loaded.precision == index.precision && loaded.dimension == 16)
        for q in clusteredData(count: 40, dimension: 16, seed: 4) {
            #expect(try loaded.search(q, k: 10, ef: 50) == index.search(q, k: 10, ef: 50))
        }
        // The loaded index keeps working: freed slots are reused, new ids are found.
        try loaded.add(id: 99_999, vector: data[0])
        #expect(try loaded.search(data[0], k: 1).first?.id == 99_999)
        #expect(loaded.slotCount.load(ordering: .relaxed) == index.slotCount.load(ordering: .relaxed))
    }

    @Test func emptyIndexRoundTrips() throws {
        let path = temporaryPath()
        defer { unlink(path) }
        try HNSWIndex(dimension: 8, metric: .l2).save(to: path)
        let loaded = try HNSWIndex.load(from: path)
        #expect(loaded.count == 0)
        try loaded.add(id: 1, vector: [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(try loaded.search([1, 2, 3, 4, 5, 6, 7, 8], k: 1).first?.id == 1)
    }

    @Test func corruptedTruncatedAndForeignFilesAreRejected() throws {
        let data = clusteredData(count: 300, dimension: 8, seed: 5)
        let path = temporaryPath()
        defer { unlink(path) }
        try buildIndex(data, metric: .l2).save(to: path)
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        func rejects(_ bytes: Data, _ mention: String) {
            let p = temporaryPath()
            defer { unlink(p) }
            try! bytes.write(to: URL(fileURLWithPath: p))
            do {
                _ = try HNSWIndex.load(from: p)
                Issue.record("accepted: \(mention)")
            } catch let error as VectorIndexError {
                #expect(error.description.contains(mention), "\(error)")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        rejects(good.prefix(good.count - 1), "checksum")
        rejects(good.prefix(50), "too short")
        rejects(Data(), "too short")
        var flipped = good
        flipped[good.count / 2] ^= 0x40
        rejects(flipped, "corrupted")
        var magic = good
        magic[0] = 0x58
        rejects(magic, "bad magic")
        var version = good
        version[8] = 9
        rejects(version, "format version 9")
        rejects(Data(repeating: 0xAB, count: 5000), "bad magic")
        // A header claiming far more nodes than the file holds (checksum re-sealed so the
        // structural check is what answers): rejected before any allocation (found by the fuzzer).
        var huge = [UInt8](good)
        withUnsafeBytes(of: UInt64(2_000_000_000).littleEndian) { for k in 0..<8 { huge[32 + k] = $0[k] } }
        let sum = huge.withUnsafeBytes { vk_checksum($0.baseAddress, huge.count - 8, 0x41495748) }
        withUnsafeBytes(of: sum.littleEndian) { for k in 0..<8 { huge[huge.count - 8 + k] = $0[k] } }
        rejects(Data(huge), "truncated")
        #expect(throws: VectorIndexError.self) { try HNSWIndex.load(from: "/nonexistent/x.snap") }
    }

    @Test func randomCorruptionNeverCrashes() throws {
        let data = clusteredData(count: 200, dimension: 8, seed: 6)
        let path = temporaryPath()
        defer { unlink(path) }
        try buildIndex(data, metric: .cosine).save(to: path)
        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var rng = SplitMix(state: 11)
        for _ in 0..<200 {
            var bad = good
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                bad[Int.random(in: 0..<bad.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if Bool.random(using: &rng) { bad = Array(bad.prefix(Int.random(in: 0..<bad.count, using: &rng))) }
            bad.withUnsafeBytes { raw in
                if raw.count >= HNSWSnapshot.headerSize + 8 {
                    _ = try? HNSWIndex.load(raw.baseAddress!, raw.count, path: "fuzz")
                }
            }
        }
    }
}
