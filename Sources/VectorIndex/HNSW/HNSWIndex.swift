import Dispatch
import Foundation
import Synchronization
import VectorKernels

/// One result of a search.
public struct SearchResult: Sendable, Equatable {
    public let id: UInt64
    public let distance: Float

    public init(id: UInt64, distance: Float) {
        self.id = id
        self.distance = distance
    }
}

/// A hierarchical navigable small-world graph (Malkov & Yashunin) over vectors with 64-bit ids.
///
/// Layout, for search speed: every vector in one 64-byte-aligned buffer (float32 or float16),
/// level-0 links in one flat array beside it (`[count, n0, n1, …]` per slot, 2M entries), upper
/// levels in a separate block per node that has them. Searches run in parallel with inserts:
/// a writer locks only the node whose links it rewrites (a one-byte spin lock per slot) and
/// publishes a list's count with release order; readers take no lock. A read–write lock is
/// held exclusively only to grow the buffers.
public final class HNSWIndex: @unchecked Sendable {
    // @unchecked: all mutable state is behind `structure` (rwlock), per-node spin locks,
    // atomics, or Mutexes, as each member's comment says.

    public let dimension: Int
    public let metric: DistanceMetric
    public let parameters: HNSWParameters
    let kernels = DistanceKernels.best
    /// How vectors are stored (resolved from `parameters.precision`).
    public let precision: VectorPrecision
    let m: Int
    let m0: Int
    let levelMultiplier: Double
    /// Bytes per stored vector, rounded up to a cache line.
    let vectorStride: Int
    let links0Stride: Int
    let upperStride: Int

    // Guarded by `structure` (exclusive to grow; shared for everything else).
    var capacity: Int
    var vectors: UnsafeMutableRawPointer
    var links0: UnsafeMutablePointer<UInt32>
    var upper: UnsafeMutablePointer<UnsafeMutablePointer<UInt32>?>
    var levels: UnsafeMutablePointer<UInt8>
    var labels: UnsafeMutablePointer<UInt64>
    /// Bit 0: deleted. Written with release order, read with acquire.
    var flags: UnsafeMutablePointer<UInt8>
    var nodeLocks: UnsafeMutablePointer<UInt8>
    let structure: UnsafeMutablePointer<pthread_rwlock_t>

    /// Slots handed out so far (the high-water mark).
    let slotCount = Atomic<Int>(0)
    /// Entry point and top level, changed under `entryLock`, read without it.
    let entryPoint = Atomic<UInt32>(UInt32.max)
    let maxLevel = Atomic<Int>(-1)
    let entryLock: UnsafeMutablePointer<pthread_mutex_t>
    let insertions = Atomic<UInt64>(0)

    let labelShards: [LabelShard]
    let freeSlots = PthreadLocked<[UInt32]>([])
    let scratchPool = PthreadLocked<[SearchScratch]>([])
    let liveCount = Atomic<Int>(0)
    /// The tag of the snapshot this index was loaded from (0 for a new index); set once by
    /// the loader before the index is shared.
    public internal(set) var snapshotTag: UInt64 = 0

    static let deletedFlag: UInt8 = 1

    public init(dimension: Int, metric: DistanceMetric, parameters: HNSWParameters = HNSWParameters()) throws(VectorIndexError) {
        guard dimension > 0 && dimension <= 65_536 else { throw .invalidParameters("dimension must be 1...65536") }
        guard parameters.m >= 2 && parameters.m <= 128 else { throw .invalidParameters("m must be 2...128") }
        guard parameters.efConstruction >= 1 && parameters.defaultEf >= 1 else { throw .invalidParameters("ef must be positive") }
        self.dimension = dimension
        self.metric = metric
        self.parameters = parameters
        let precision = parameters.precision ?? (metric == .cosine ? .float16 : .float32)
        self.precision = precision
        m = parameters.m
        m0 = parameters.maxM0
        levelMultiplier = 1 / log(Double(parameters.m))
        vectorStride = (dimension * precision.bytesPerComponent + 63) & ~63
        links0Stride = 1 + m0
        upperStride = 1 + m
        capacity = max(16, parameters.initialCapacity)
        vectors = .allocate(byteCount: capacity * vectorStride, alignment: 64)
        links0 = .allocate(capacity: capacity * links0Stride)
        upper = .allocate(capacity: capacity)
        levels = .allocate(capacity: capacity)
        labels = .allocate(capacity: capacity)
        flags = .allocate(capacity: capacity)
        nodeLocks = .allocate(capacity: capacity)
        upper.initialize(repeating: nil, count: capacity)
        nodeLocks.initialize(repeating: 0, count: capacity)
        flags.initialize(repeating: 0, count: capacity)
        structure = .allocate(capacity: 1)
        pthread_rwlock_init(structure, nil)
        entryLock = .allocate(capacity: 1)
        pthread_mutex_init(entryLock, nil)
        labelShards = (0..<64).map { _ in LabelShard() }
    }

    deinit {
        let n = slotCount.load(ordering: .relaxed)
        for i in 0..<n { upper[i]?.deallocate() }
        vectors.deallocate()
        links0.deallocate()
        upper.deallocate()
        levels.deallocate()
        labels.deallocate()
        flags.deallocate()
        nodeLocks.deallocate()
        pthread_rwlock_destroy(structure)
        structure.deallocate()
        pthread_mutex_destroy(entryLock)
        entryLock.deallocate()
        for scratch in scratchPool.withLock({ $0 }) { scratch.release() }
    }

    /// Live vectors (added and not removed).
    public var count: Int { liveCount.load(ordering: .relaxed) }

    /// Bytes held by the index's own buffers.
    public var memoryBytes: Int {
        pthread_rwlock_rdlock(structure)
        defer { pthread_rwlock_unlock(structure) }
        var total = capacity * (vectorStride + links0Stride * 4 + 8 + 8 + 1 + 1 + 1)
        let n = slotCount.load(ordering: .relaxed)
        for i in 0..<n where upper[i] != nil { total += Int(levels[i]) * upperStride * 4 }
        return total
    }

    // MARK: - Slots, labels, scratch

    final class LabelShard: Sendable {
        let map = PthreadLocked<[UInt64: UInt32]>([:])
    }

    @inline(__always) func shard(_ id: UInt64) -> LabelShard {
        labelShards[Int((id &* 0x9E3779B97F4A7C15) >> 58)]
    }

    func slot(of id: UInt64) -> UInt32? { shard(id).map.withLock { $0[id] } }

    public func contains(_ id: UInt64) -> Bool { slot(of: id) != nil }

    func takeScratch() -> SearchScratch {
        if let s = scratchPool.withLock({ $0.popLast() }) { return s }
        return SearchScratch(capacity: capacity, dimension: dimension)
    }

    func returnScratch(_ s: SearchScratch) { scratchPool.withLock { $0.append(s) } }

    @inline(__always) func vectorAddress(_ slot: UInt32) -> UnsafeMutableRawPointer { vectors + Int(slot) * vectorStride }
    @inline(__always) func links(_ slot: UInt32, level: Int) -> UnsafeMutablePointer<UInt32> {
        level == 0 ? links0 + Int(slot) * links0Stride : upper[Int(slot)]! + (level - 1) * upperStride
    }
    @inline(__always) func isDeleted(_ slot: UInt32) -> Bool {
        vk_load_u8_acquire(flags + Int(slot)) & HNSWIndex.deletedFlag != 0
    }

    /// Distance from a float32 query to a stored vector.
    @inline(__always)
    func distance(_ query: UnsafePointer<Float>, _ slot: UInt32) -> Float {
        let p = vectorAddress(slot)
        if precision == .float32 {
            return kernels.distance(metric, query, f32: p.assumingMemoryBound(to: Float.self), dimension)
        }
        return kernels.distance(metric, query, f16: p.assumingMemoryBound(to: UInt16.self), dimension)
    }

    /// Copies a stored vector out as float32 (for node-to-node distances).
    func decode(_ slot: UInt32, into out: UnsafeMutablePointer<Float>) {
        let p = vectorAddress(slot)
        if precision == .float32 {
            out.update(from: p.assumingMemoryBound(to: Float.self), count: dimension)
        } else {
            vk_f16_to_f32(p.assumingMemoryBound(to: UInt16.self), out, dimension)
        }
    }

    func store(_ vector: UnsafePointer<Float>, at slot: UInt32) {
        let p = vectorAddress(slot)
        if precision == .float32 {
            p.assumingMemoryBound(to: Float.self).update(from: vector, count: dimension)
        } else {
            vk_f32_to_f16(vector, p.assumingMemoryBound(to: UInt16.self), dimension)
        }
    }

    /// Checks a vector and writes it, normalised for cosine, into `out`.
    func prepare(_ vector: UnsafeBufferPointer<Float>, into out: UnsafeMutablePointer<Float>) throws(VectorIndexError) {
        guard vector.count == dimension else { throw .dimensionMismatch(expected: dimension, got: vector.count) }
        var norm: Float = 0
        for i in 0..<dimension {
            let v = vector[i]
            guard v.isFinite else { throw .nonFiniteComponent(index: i) }
            if precision == .float16 && metric != .cosine && abs(v) > 65504 { throw .outOfFloat16Range(index: i) }
            norm += v * v
        }
        if metric == .cosine {
            guard norm > 0 else { throw .zeroVectorForCosine }
            if !norm.isFinite {
                // Components near Float.greatestFiniteMagnitude overflow the sum of squares:
                // scale down first, the direction is what counts.
                var largest: Float = 0
                for i in 0..<dimension { largest = max(largest, abs(vector[i])) }
                var scaled: Float = 0
                for i in 0..<dimension { let v = vector[i] / largest; scaled += v * v }
                let root = scaled.squareRoot()
                for i in 0..<dimension { out[i] = vector[i] / largest / root }
                return
            }
            let scale = 1 / norm.squareRoot()
            for i in 0..<dimension { out[i] = vector[i] * scale }
        } else {
            out.update(from: vector.baseAddress!, count: dimension)
        }
    }

    // MARK: - Growth

    /// Makes room for `needed` slots, doubling; takes the structure lock exclusively.
    func ensureCapacity(_ needed: Int) {
        pthread_rwlock_rdlock(structure)
        let enough = needed <= capacity
        pthread_rwlock_unlock(structure)
        if enough { return }
        pthread_rwlock_wrlock(structure)
        defer { pthread_rwlock_unlock(structure) }
        if needed <= capacity { return }
        var newCapacity = capacity
        while newCapacity < needed { newCapacity *= 2 }
        let used = slotCount.load(ordering: .relaxed)
        func move<T>(_ old: UnsafeMutablePointer<T>, _ stride: Int, fill: T?) -> UnsafeMutablePointer<T> {
            let new = UnsafeMutablePointer<T>.allocate(capacity: newCapacity * stride)
            new.moveInitialize(from: old, count: capacity * stride)
            if let fill { (new + capacity * stride).initialize(repeating: fill, count: (newCapacity - capacity) * stride) }
            old.deallocate()
            return new
        }
        let newVectors = UnsafeMutableRawPointer.allocate(byteCount: newCapacity * vectorStride, alignment: 64)
        newVectors.copyMemory(from: vectors, byteCount: used * vectorStride)
        vectors.deallocate()
        vectors = newVectors
        links0 = move(links0, links0Stride, fill: nil)
        // Slots above the old capacity have no upper levels yet (nil, not garbage).
        let newUpper = UnsafeMutablePointer<UnsafeMutablePointer<UInt32>?>.allocate(capacity: newCapacity)
        newUpper.moveInitialize(from: upper, count: capacity)
        (newUpper + capacity).initialize(repeating: nil, count: newCapacity - capacity)
        upper.deallocate()
        upper = newUpper
        levels = move(levels, 1, fill: nil)
        labels = move(labels, 1, fill: nil)
        flags = move(flags, 1, fill: 0)
        nodeLocks = move(nodeLocks, 1, fill: 0)
        capacity = newCapacity
    }

    // MARK: - Adding

    /// Adds (or, for an id already present, replaces) one vector.
    public func add(id: UInt64, vector: [Float]) throws(VectorIndexError) {
        try vector.withUnsafeBufferPointer { (v) throws(VectorIndexError) in try add(id: id, vector: v) }
    }

    public func add(id: UInt64, vector: UnsafeBufferPointer<Float>) throws(VectorIndexError) {
        let scratch = takeScratch()
        defer { returnScratch(scratch) }
        try prepare(vector, into: scratch.query)
        ensureCapacity(slotCount.load(ordering: .relaxed) + 1)
        insertPrepared(id: id, scratch: scratch)
    }

    /// Adds many vectors (row-major, `dimension` floats each) using every core. Every vector is
    /// checked before any is added: a bad one fails the whole batch, nothing is half-added.
    /// Searches and removals may run meanwhile; other adds may not (the batch sizes its
    /// buffers counting the freed slots it will reuse).
    public func add(ids: [UInt64], vectors flat: [Float], threads: Int = ProcessInfo.processInfo.activeProcessorCount) throws(VectorIndexError) {
        guard flat.count == ids.count * dimension else {
            throw .dimensionMismatch(expected: dimension, got: ids.isEmpty ? flat.count : flat.count / max(ids.count, 1))
        }
        let check = UnsafeMutablePointer<Float>.allocate(capacity: dimension)
        defer { check.deallocate() }
        try flat.withUnsafeBufferPointer { (all) throws(VectorIndexError) in
            for i in 0..<ids.count {
                try prepare(UnsafeBufferPointer(rebasing: all[i * dimension..<(i + 1) * dimension]), into: check)
            }
        }
        // Freed slots are reused before fresh ones: delete-and-reload cycles must not grow the
        // buffers. (One batch adder at a time, as callers run it; removals only add free slots.)
        let reusable = freeSlots.withLock { $0.count }
        ensureCapacity(slotCount.load(ordering: .relaxed) + max(0, ids.count - reusable))
        let next = Atomic<Int>(0)
        let workers = max(1, min(threads, ids.count))
        flat.withUnsafeBufferPointer { all in
            let base = UnsafeSendablePointer(all.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                let scratch = self.takeScratch()
                defer { self.returnScratch(scratch) }
                while true {
                    let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    if i >= ids.count { break }
                    let v = UnsafeBufferPointer(start: base.pointer + i * self.dimension, count: self.dimension)
                    try! self.prepare(v, into: scratch.query)
                    self.insertPrepared(id: ids[i], scratch: scratch)
                }
            }
        }
    }

    /// Inserts the vector in `scratch.query` (already checked and normalised).
    func insertPrepared(id: UInt64, scratch: SearchScratch) {
        pthread_rwlock_rdlock(structure)
        defer { pthread_rwlock_unlock(structure) }
        // An existing id is an update; a new one takes a freed slot or a fresh one. Deciding and
        // reserving the id is one step under its shard's lock, so two threads adding the same
        // new id cannot both allocate a slot.
        enum Placement { case update(UInt32), reuse(UInt32), fresh(UInt32) }
        let placement = shard(id).map.withLock { map -> Placement in
            if let existing = map[id] { return .update(existing) }
            let placement: Placement
            if let free = freeSlots.withLock({ $0.popLast() }) {
                placement = .reuse(free)
            } else {
                placement = .fresh(UInt32(slotCount.wrappingAdd(1, ordering: .relaxed).oldValue))
            }
            switch placement {
            case .reuse(let s), .fresh(let s): map[id] = s
            case .update: break
            }
            return placement
        }
        let slot: UInt32
        switch placement {
        case .update(let existing):
            relink(slot: existing, scratch: scratch, newLabel: nil)
            return
        case .reuse(let freed):
            liveCount.add(1, ordering: .relaxed)
            relink(slot: freed, scratch: scratch, newLabel: id)
            return
        case .fresh(let s):
            slot = s
        }
        precondition(Int(slot) < capacity, "capacity was reserved before inserting")
        let level = randomLevel()
        store(scratch.query, at: slot)
        labels[Int(slot)] = id
        levels[Int(slot)] = UInt8(level)
        vk_store_u8_release(flags + Int(slot), 0)
        (links0 + Int(slot) * links0Stride).initialize(repeating: 0, count: links0Stride)
        if level > 0 {
            let block = UnsafeMutablePointer<UInt32>.allocate(capacity: level * upperStride)
            block.initialize(repeating: 0, count: level * upperStride)
            upper[Int(slot)] = block
        }
        liveCount.add(1, ordering: .relaxed)
        connect(slot: slot, level: level, scratch: scratch, isNew: true)
    }

    /// Level drawn as floor(−ln(U) / ln(M)), from a counter-based generator so that the same
    /// seed and order give the same graph whatever the thread interleaving.
    func randomLevel() -> Int {
        let n = insertions.wrappingAdd(1, ordering: .relaxed).oldValue
        var z = parameters.seed &+ n &* 0x9E3779B97F4A7C15
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        z ^= z >> 31
        let u = (Double(z >> 11) + 1) / 9007199254740993.0
        return min(Int(-log(u) * levelMultiplier), 32)
    }

    /// Replaces a slot's vector (an update, or a freed slot taken by a new id) and links it
    /// again from the top, as hnswlib does for replaced elements.
    func relink(slot: UInt32, scratch: SearchScratch, newLabel: UInt64?) {
        vk_spin_lock(nodeLocks + Int(slot))
        store(scratch.query, at: slot)
        if let newLabel { labels[Int(slot)] = newLabel }
        vk_spin_unlock(nodeLocks + Int(slot))
        if newLabel != nil { vk_store_u8_release(flags + Int(slot), 0) }
        connect(slot: slot, level: Int(levels[Int(slot)]), scratch: scratch, isNew: false)
    }

    /// Finds neighbours for `slot` on each of its levels and links both ways.
    func connect(slot: UInt32, level: Int, scratch: SearchScratch, isNew: Bool) {
        let query = UnsafePointer(scratch.query)
        var holdsEntryLock = false
        if level > maxLevel.load(ordering: .acquiring) {
            pthread_mutex_lock(entryLock)
            holdsEntryLock = true
        }
        defer { if holdsEntryLock { pthread_mutex_unlock(entryLock) } }
        let top = maxLevel.load(ordering: .acquiring)
        var entry = entryPoint.load(ordering: .acquiring)
        if top < 0 || entry == UInt32.max {
            // The first node.
            entryPoint.store(slot, ordering: .releasing)
            maxLevel.store(level, ordering: .releasing)
            return
        }
        if entry == slot && !isNew {
            // Relinking the entry point itself: descend from any other node is impossible
            // without one; its links stay, its vector is updated.
            return
        }
        var entryDistance = distance(query, entry)
        if level < top {
            for lc in stride(from: top, to: level, by: -1) {
                (entry, entryDistance) = greedyClosest(query, from: entry, distance: entryDistance, level: lc)
            }
        }
        for lc in stride(from: min(level, top), through: 0, by: -1) {
            searchLayer(query, entry: entry, level: lc, ef: parameters.efConstruction, scratch: scratch, exclude: slot)
            // Best first.
            var found: [(Float, UInt32)] = []
            found.reserveCapacity(scratch.results.count)
            while !scratch.results.isEmpty {
                found.append((scratch.results.topDistance, scratch.results.topSlot))
                scratch.results.pop()
            }
            found.reverse()
            if found.isEmpty { continue }
            let chosen = selectNeighbors(found, count: m, scratch: scratch)
            setLinks(of: slot, level: lc, to: chosen)
            let capacityAtLevel = lc == 0 ? m0 : m
            for neighbor in chosen { addReverseLink(from: neighbor, to: slot, level: lc, capacityAtLevel: capacityAtLevel, scratch: scratch) }
            entry = found[0].1
        }
        if level > top {
            entryPoint.store(slot, ordering: .releasing)
            maxLevel.store(level, ordering: .releasing)
        }
    }

    /// Greedy walk on one upper level: move to the closest neighbour until none is closer.
    @inline(__always)
    func greedyClosest(_ query: UnsafePointer<Float>, from start: UInt32, distance startDistance: Float, level: Int) -> (UInt32, Float) {
        var current = start
        var currentDistance = startDistance
        var changed = true
        while changed {
            changed = false
            let list = links(current, level: level)
            let n = Int(vk_load_acquire(list))
            for j in 0..<n {
                let candidate = vk_load_relaxed(list + 1 + j)
                let d = distance(query, candidate)
                if d < currentDistance {
                    currentDistance = d
                    current = candidate
                    changed = true
                }
            }
        }
        return (current, currentDistance)
    }

    /// Malkov & Yashunin's heuristic (Algorithm 4, as hnswlib's getNeighborsByHeuristic2):
    /// walk candidates nearest first and keep one only if it is closer to the base than to
    /// every neighbour kept so far, which spreads links across directions.
    func selectNeighbors(_ candidates: [(Float, UInt32)], count: Int, scratch: SearchScratch) -> [UInt32] {
        if candidates.count <= count { return candidates.map(\.1) }
        var chosen: [UInt32] = []
        chosen.reserveCapacity(count)
        var pruned: [UInt32] = []
        let e = scratch.scratchVector
        for (d, candidate) in candidates {
            if chosen.count >= count { break }
            decode(candidate, into: e)
            var good = true
            for r in chosen where distance(e, r) < d {
                good = false
                break
            }
            if good { chosen.append(candidate) } else if parameters.keepPrunedConnections { pruned.append(candidate) }
        }
        if parameters.keepPrunedConnections {
            for p in pruned where chosen.count < count { chosen.append(p) }
        }
        return chosen
    }

    func setLinks(of slot: UInt32, level: Int, to neighbors: [UInt32]) {
        vk_spin_lock(nodeLocks + Int(slot))
        let list = links(slot, level: level)
        for (j, n) in neighbors.enumerated() { vk_store_relaxed(list + 1 + j, n) }
        vk_store_release(list, UInt32(neighbors.count))
        vk_spin_unlock(nodeLocks + Int(slot))
    }

    /// Adds `slot` to `neighbor`'s list, re-running the heuristic over the list when it is full.
    func addReverseLink(from neighbor: UInt32, to slot: UInt32, level: Int, capacityAtLevel: Int, scratch: SearchScratch) {
        guard neighbor != slot else { return }
        vk_spin_lock(nodeLocks + Int(neighbor))
        defer { vk_spin_unlock(nodeLocks + Int(neighbor)) }
        let list = links(neighbor, level: level)
        let n = Int(list.pointee)
        for j in 0..<n where list[1 + j] == slot { return }
        if n < capacityAtLevel {
            vk_store_relaxed(list + 1 + n, slot)
            vk_store_release(list, UInt32(n + 1))
            return
        }
        // Full: choose the best capacityAtLevel among the old links and the new one, measured
        // from the neighbour.
        let base = scratch.baseVector
        decode(neighbor, into: base)
        var candidates: [(Float, UInt32)] = [(distance(base, slot), slot)]
        candidates.reserveCapacity(n + 1)
        for j in 0..<n {
            let c = list[1 + j]
            candidates.append((distance(base, c), c))
        }
        candidates.sort { $0.0 < $1.0 }
        let chosen = selectNeighbors(candidates, count: capacityAtLevel, scratch: scratch)
        for (j, c) in chosen.enumerated() { vk_store_relaxed(list + 1 + j, c) }
        vk_store_release(list, UInt32(chosen.count))
    }

    // MARK: - Removing

    /// Marks `id` deleted: searches skip it from now on, its slot may be reused by a later add.
    /// Returns false if the id is not present.
    @discardableResult
    public func remove(id: UInt64) -> Bool {
        pthread_rwlock_rdlock(structure)
        defer { pthread_rwlock_unlock(structure) }
        guard let slot = shard(id).map.withLock({ $0.removeValue(forKey: id) }) else { return false }
        vk_store_u8_release(flags + Int(slot), HNSWIndex.deletedFlag)
        liveCount.subtract(1, ordering: .relaxed)
        freeSlots.withLock { $0.append(slot) }
        return true
    }

    /// Calls `body` with the id of every live vector (order unspecified). Inserts wait while
    /// it runs.
    public func forEachID(_ body: (UInt64) -> Void) {
        pthread_rwlock_wrlock(structure)
        defer { pthread_rwlock_unlock(structure) }
        let n = slotCount.load(ordering: .acquiring)
        for s in 0..<n where !isDeleted(UInt32(s)) { body(labels[s]) }
    }

    /// Slots handed out: live vectors plus removed ones not yet reused.
    public var slots: Int { slotCount.load(ordering: .relaxed) }

    /// Fraction of slots held by removed vectors not yet reused: how much of the graph a
    /// search walks for nothing, and when a rebuild pays.
    public var tombstoneFraction: Double {
        let slots = slotCount.load(ordering: .relaxed)
        return slots == 0 ? 0 : Double(slots - count) / Double(slots)
    }

    /// The stored vector of `id` (normalised for cosine; rounded when stored as float16).
    public func vector(for id: UInt64) -> [Float]? {
        pthread_rwlock_rdlock(structure)
        defer { pthread_rwlock_unlock(structure) }
        guard let slot = slot(of: id) else { return nil }
        return [Float](unsafeUninitializedCapacity: dimension) { buffer, n in
            decode(slot, into: buffer.baseAddress!)
            n = dimension
        }
    }
}

/// A pointer that `concurrentPerform` workers read; the array outlives the call.
struct UnsafeSendablePointer: @unchecked Sendable {
    // @unchecked: read-only for the duration of one concurrentPerform call.
    let pointer: UnsafePointer<Float>
    init(_ pointer: UnsafePointer<Float>) { self.pointer = pointer }
}

extension SearchScratch: @unchecked Sendable {
    // @unchecked: a scratch is used by one thread at a time (taken from and returned to the pool).
    func release() {
        candidates.deallocate()
        results.deallocate()
    }
}
