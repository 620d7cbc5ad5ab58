/// Everything one search needs, reused across searches so a query allocates nothing but its
/// result: an epoch-tagged visited set (bumping the epoch clears it), the candidate min-heap,
/// the result max-heap, and the query converted to float32.
final class SearchScratch {
    var visited: UnsafeMutablePointer<UInt16>
    var visitedCapacity: Int
    var epoch: UInt16 = 0
    var candidates = DistanceHeap(minHeap: true, capacity: 512)
    var results = DistanceHeap(minHeap: false, capacity: 512)
    var query: UnsafeMutablePointer<Float>
    /// A second float32 vector (a stored node decoded for node-to-node distances).
    var scratchVector: UnsafeMutablePointer<Float>
    /// The node whose full link list is being re-chosen, decoded once (insert path).
    var baseVector: UnsafeMutablePointer<Float>
    /// Unvisited neighbours of the node being expanded, gathered before any distance is
    /// computed so their vectors can be fetched from memory in parallel.
    var fresh: UnsafeMutablePointer<UInt32>

    init(capacity: Int, dimension: Int) {
        visitedCapacity = capacity
        visited = .allocate(capacity: capacity)
        visited.initialize(repeating: 0, count: capacity)
        query = .allocate(capacity: dimension + 16)
        scratchVector = .allocate(capacity: dimension + 16)
        baseVector = .allocate(capacity: dimension + 16)
        fresh = .allocate(capacity: 1024)
    }

    deinit {
        visited.deallocate()
        query.deallocate()
        scratchVector.deallocate()
        baseVector.deallocate()
        fresh.deallocate()
    }

    /// Starts a new search over `capacity` slots; O(1) except when the epoch wraps.
    @inline(__always)
    func begin(capacity: Int) {
        if capacity > visitedCapacity {
            visited.deallocate()
            visited = .allocate(capacity: capacity)
            visited.initialize(repeating: 0, count: capacity)
            visitedCapacity = capacity
            epoch = 0
        }
        epoch &+= 1
        if epoch == 0 {
            visited.update(repeating: 0, count: visitedCapacity)
            epoch = 1
        }
        candidates.removeAll()
        results.removeAll()
    }

    /// Marks `slot` visited; true if it was not visited yet.
    @inline(__always)
    func visit(_ slot: UInt32) -> Bool {
        let p = visited + Int(slot)
        if p.pointee == epoch { return false }
        p.pointee = epoch
        return true
    }

    @inline(__always)
    func visitedAddress(_ slot: UInt32) -> UnsafeRawPointer { UnsafeRawPointer(visited + Int(slot)) }
}

/// A binary heap of (distance, slot) pairs in two parallel arrays: a min-heap for candidates,
/// a max-heap for the best results so far (worst on top, ready to be evicted).
struct DistanceHeap {
    var distances: UnsafeMutablePointer<Float>
    var slots: UnsafeMutablePointer<UInt32>
    var count = 0
    var capacity: Int
    let minHeap: Bool

    init(minHeap: Bool, capacity: Int) {
        self.minHeap = minHeap
        self.capacity = capacity
        distances = .allocate(capacity: capacity)
        slots = .allocate(capacity: capacity)
    }

    func deallocate() {
        distances.deallocate()
        slots.deallocate()
    }

    @inline(__always) mutating func removeAll() { count = 0 }
    @inline(__always) var isEmpty: Bool { count == 0 }
    @inline(__always) var topDistance: Float { distances[0] }
    @inline(__always) var topSlot: UInt32 { slots[0] }

    @inline(__always)
    func before(_ a: Float, _ b: Float) -> Bool { minHeap ? a < b : a > b }

    mutating func grow() {
        let newCapacity = capacity * 2
        let d = UnsafeMutablePointer<Float>.allocate(capacity: newCapacity)
        let s = UnsafeMutablePointer<UInt32>.allocate(capacity: newCapacity)
        d.update(from: distances, count: count)
        s.update(from: slots, count: count)
        distances.deallocate()
        slots.deallocate()
        distances = d
        slots = s
        capacity = newCapacity
    }

    @inline(__always)
    mutating func push(_ distance: Float, _ slot: UInt32) {
        if count == capacity { grow() }
        var i = count
        count += 1
        while i > 0 {
            let parent = (i - 1) >> 1
            if !before(distance, distances[parent]) { break }
            distances[i] = distances[parent]
            slots[i] = slots[parent]
            i = parent
        }
        distances[i] = distance
        slots[i] = slot
    }

    @inline(__always)
    mutating func pop() {
        count -= 1
        if count == 0 { return }
        let d = distances[count]
        let s = slots[count]
        var i = 0
        while true {
            var child = 2 * i + 1
            if child >= count { break }
            if child + 1 < count && before(distances[child + 1], distances[child]) { child += 1 }
            if !before(distances[child], d) { break }
            distances[i] = distances[child]
            slots[i] = slots[child]
            i = child
        }
        distances[i] = d
        slots[i] = s
    }
}
