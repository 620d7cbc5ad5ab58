import VectorKernels
#if canImport(Glibc)
import Glibc
#endif

extension HNSWIndex {
    /// The `k` nearest live vectors to `query`, nearest first. `ef` (default
    /// `parameters.defaultEf`, never below k) trades speed for recall.
    public func search(_ query: [Float], k: Int, ef: Int? = nil, filter: SearchFilter? = nil) throws(VectorIndexError) -> [SearchResult] {
        try query.withUnsafeBufferPointer { (q) throws(VectorIndexError) in try search(q, k: k, ef: ef, filter: filter) }
    }

    public func search(_ query: UnsafeBufferPointer<Float>, k: Int, ef: Int? = nil, filter: SearchFilter? = nil) throws(VectorIndexError) -> [SearchResult] {
        guard k > 0 else { return [] }
        let scratch = takeScratch()
        defer { returnScratch(scratch) }
        try prepare(query, into: scratch.query)
        pthread_rwlock_rdlock(structure)
        defer { pthread_rwlock_unlock(structure) }
        let q = UnsafePointer(scratch.query)
        let beam = max(ef ?? parameters.defaultEf, k)

        var allowedSlots: Bitmap?
        var predicate: (@Sendable (UInt64) -> Bool)?
        if let filter {
            switch filter {
            case .allowing(let ids):
                var bitmap = Bitmap(count: slotCount.load(ordering: .acquiring))
                var slots: [UInt32] = []
                for id in ids {
                    if let s = slot(of: id), Int(s) < bitmap.count { bitmap.set(s); slots.append(s) }
                }
                if Double(slots.count) < SearchFilter.exactScanThreshold * Double(max(count, 1)) || slots.count <= beam {
                    return exactScan(q, k: k, slots: slots)
                }
                allowedSlots = bitmap
            case .predicate(let p):
                if estimatedSelectivity(p) < SearchFilter.exactScanThreshold {
                    let n = slotCount.load(ordering: .acquiring)
                    var slots: [UInt32] = []
                    for s in 0..<UInt32(n) where !isDeleted(s) && p(labels[Int(s)]) { slots.append(s) }
                    return exactScan(q, k: k, slots: slots)
                }
                predicate = p
            }
        }

        var entry = entryPoint.load(ordering: .acquiring)
        let top = maxLevel.load(ordering: .acquiring)
        guard entry != UInt32.max, top >= 0 else { return [] }
        var entryDistance = distance(q, entry)
        if top > 0 {
            for level in stride(from: top, through: 1, by: -1) {
                (entry, entryDistance) = greedyClosest(q, from: entry, distance: entryDistance, level: level)
            }
        }
        searchLevel0(q, entry: entry, ef: beam, scratch: scratch, allowed: allowedSlots, predicate: predicate)
        var results = scratch.results
        return drain(&results, keeping: k)
    }

    /// Empties a max-heap of results into the best `k`, nearest first.
    func drain(_ heap: inout DistanceHeap, keeping k: Int) -> [SearchResult] {
        while heap.count > k { heap.pop() }
        var out = [SearchResult](repeating: SearchResult(id: 0, distance: 0), count: heap.count)
        var i = heap.count - 1
        while !heap.isEmpty {
            out[i] = SearchResult(id: labels[Int(heap.topSlot)], distance: heap.topDistance)
            heap.pop()
            i -= 1
        }
        return out
    }

    /// Fraction of a sample of live points that pass the predicate.
    func estimatedSelectivity(_ p: (UInt64) -> Bool) -> Double {
        let n = slotCount.load(ordering: .acquiring)
        if n == 0 { return 1 }
        let samples = min(n, 512)
        var passed = 0, live = 0
        var x: UInt64 = 0x243F6A8885A308D3
        for _ in 0..<samples {
            x = x &* 6364136223846793005 &+ 1442695040888963407
            let s = UInt32((x >> 33) % UInt64(n))
            if isDeleted(s) { continue }
            live += 1
            if p(labels[Int(s)]) { passed += 1 }
        }
        return live == 0 ? 1 : Double(passed) / Double(live)
    }

    /// Exact k nearest among `slots` (skipping deleted ones).
    func exactScan(_ q: UnsafePointer<Float>, k: Int, slots: [UInt32]) -> [SearchResult] {
        var heap = DistanceHeap(minHeap: false, capacity: k + 1)
        defer { heap.deallocate() }
        for s in slots where !isDeleted(s) {
            let d = distance(q, s)
            if heap.count < k {
                heap.push(d, s)
            } else if d < heap.topDistance {
                heap.pop()
                heap.push(d, s)
            }
        }
        return drain(&heap, keeping: k)
    }

    /// Beam search on level 0 (hnswlib's searchBaseLayerST): `scratch.results` ends holding
    /// the best `ef` allowed, live nodes. Deleted and filtered-out nodes are walked through but
    /// never returned; while any are present the walk goes on until `ef` results are found.
    @inline(__always)
    func searchLevel0(_ q: UnsafePointer<Float>, entry: UInt32, ef: Int, scratch: SearchScratch,
                      allowed: Bitmap?, predicate: (@Sendable (UInt64) -> Bool)?) {
        scratch.begin(capacity: capacity)
        let filtering = allowed != nil || predicate != nil
        let mayHaveDeleted = count != slotCount.load(ordering: .relaxed)
        func accepts(_ s: UInt32) -> Bool {
            if mayHaveDeleted && isDeleted(s) { return false }
            if let allowed, !allowed.contains(s) { return false }
            if let predicate, !predicate(labels[Int(s)]) { return false }
            return true
        }
        let d0 = distance(q, entry)
        var lowerBound = Float.infinity
        if accepts(entry) {
            scratch.results.push(d0, entry)
            lowerBound = d0
        }
        scratch.candidates.push(d0, entry)
        _ = scratch.visit(entry)
        let keepGoing = filtering || mayHaveDeleted
        while !scratch.candidates.isEmpty {
            let d = scratch.candidates.topDistance
            let current = scratch.candidates.topSlot
            if d > lowerBound && (scratch.results.count == ef || !keepGoing) { break }
            scratch.candidates.pop()
            let list = links0 + Int(current) * links0Stride
            let fresh = gatherUnvisited(list, scratch: scratch)
            for j in 0..<fresh {
                let neighbor = scratch.fresh[j]
                if j + 2 < fresh { vk_prefetch_lines(vectorAddress(scratch.fresh[j + 2]), vectorBytes) }
                let dist = distance(q, neighbor)
                if scratch.results.count < ef || dist < lowerBound {
                    scratch.candidates.push(dist, neighbor)
                    if accepts(neighbor) {
                        scratch.results.push(dist, neighbor)
                        if scratch.results.count > ef { scratch.results.pop() }
                    }
                    if !scratch.results.isEmpty { lowerBound = scratch.results.topDistance }
                }
            }
        }
    }

    /// Bytes of one stored vector (what a distance reads).
    @inline(__always) var vectorBytes: Int { dimension * precision.bytesPerComponent }

    /// Copies the not-yet-visited entries of a link list into `scratch.fresh` (marking them
    /// visited) and starts fetching the first two vectors; returns how many there are.
    @inline(__always)
    func gatherUnvisited(_ list: UnsafeMutablePointer<UInt32>, scratch: SearchScratch) -> Int {
        let n = Int(vk_load_acquire(list))
        for j in 0..<n { vk_prefetch(scratch.visitedAddress(vk_load_relaxed(list + 1 + j))) }
        var fresh = 0
        for j in 0..<n {
            let neighbor = vk_load_relaxed(list + 1 + j)
            if scratch.visit(neighbor) {
                scratch.fresh[fresh] = neighbor
                fresh += 1
            }
        }
        if fresh > 0 { vk_prefetch_lines(vectorAddress(scratch.fresh[0]), vectorBytes) }
        if fresh > 1 { vk_prefetch_lines(vectorAddress(scratch.fresh[1]), vectorBytes) }
        return fresh
    }

    /// Beam search on any level while inserting (hnswlib's searchBaseLayer): results exclude
    /// deleted nodes and `exclude` (the node being linked).
    func searchLayer(_ q: UnsafePointer<Float>, entry: UInt32, level: Int, ef: Int, scratch: SearchScratch, exclude: UInt32) {
        scratch.begin(capacity: capacity)
        let d0 = distance(q, entry)
        var lowerBound = Float.infinity
        if entry != exclude && !isDeleted(entry) {
            scratch.results.push(d0, entry)
            lowerBound = d0
        }
        scratch.candidates.push(d0, entry)
        _ = scratch.visit(entry)
        _ = scratch.visit(exclude)
        while !scratch.candidates.isEmpty {
            let d = scratch.candidates.topDistance
            let current = scratch.candidates.topSlot
            if d > lowerBound && scratch.results.count >= ef { break }
            scratch.candidates.pop()
            let fresh = gatherUnvisited(links(current, level: level), scratch: scratch)
            for j in 0..<fresh {
                let neighbor = scratch.fresh[j]
                if j + 2 < fresh { vk_prefetch_lines(vectorAddress(scratch.fresh[j + 2]), vectorBytes) }
                let dist = distance(q, neighbor)
                if scratch.results.count < ef || dist < lowerBound {
                    scratch.candidates.push(dist, neighbor)
                    if !isDeleted(neighbor) {
                        scratch.results.push(dist, neighbor)
                        if scratch.results.count > ef { scratch.results.pop() }
                    }
                    if !scratch.results.isEmpty { lowerBound = scratch.results.topDistance }
                }
            }
        }
    }
}

/// One bit per slot.
struct Bitmap {
    var words: [UInt64]
    let count: Int
    init(count: Int) {
        self.count = count
        words = [UInt64](repeating: 0, count: (count + 63) / 64)
    }
    @inline(__always) mutating func set(_ i: UInt32) { words[Int(i >> 6)] |= 1 << UInt64(i & 63) }
    @inline(__always) func contains(_ i: UInt32) -> Bool {
        Int(i) < count && words[Int(i >> 6)] & (1 << UInt64(i & 63)) != 0
    }
}
