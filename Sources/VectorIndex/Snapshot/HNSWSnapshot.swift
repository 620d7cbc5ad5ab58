import Foundation
import Synchronization
import VectorKernels

/// The on-disk form of an index: a versioned binary file written to a temporary name,
/// fsync'd and renamed into place, so a crash leaves the old snapshot or the new one, never a
/// torn one. Loading checks the magic, version, every size against the file length, the
/// checksum, and every link and level, so a truncated, corrupted or foreign file is a thrown
/// error, never a crash or an out-of-bounds read.
///
/// Layout (little-endian): header (80 bytes, below), then labels (UInt64 per slot), levels
/// (UInt8), flags (UInt8), vectors (dimension × 2 or 4 bytes), level-0 links ((1+2M) × UInt32),
/// upper links (level × (1+M) × UInt32 for each slot above level 0, in slot order), and an
/// 8-byte checksum of everything before it.
enum HNSWSnapshot {
    static let magic: [UInt8] = Array("AIWHNSW\u{1}".utf8)
    static let version: UInt32 = 1
    static let headerSize = 80
}

/// Appends little-endian fields.
struct SnapshotWriter {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func raw(_ p: UnsafeRawPointer, _ n: Int) { bytes.append(contentsOf: UnsafeRawBufferPointer(start: p, count: n)) }
}

/// Reads little-endian fields, refusing to read past the end.
struct SnapshotReader {
    let base: UnsafeRawPointer
    let count: Int
    var offset = 0

    mutating func take(_ n: Int) throws(VectorIndexError) -> UnsafeRawPointer {
        guard n >= 0, n <= count - offset else { throw .snapshot("file is truncated (needed \(n) bytes at offset \(offset) of \(count))") }
        defer { offset += n }
        return base + offset
    }
    mutating func u8() throws(VectorIndexError) -> UInt8 { try take(1).load(as: UInt8.self) }
    mutating func u32() throws(VectorIndexError) -> UInt32 { UInt32(littleEndian: try take(4).loadUnaligned(as: UInt32.self)) }
    mutating func u64() throws(VectorIndexError) -> UInt64 { UInt64(littleEndian: try take(8).loadUnaligned(as: UInt64.self)) }
}

extension HNSWIndex {
    /// Writes the index to `path` atomically (temporary file, fsync, rename, fsync of the
    /// directory). Inserts wait while it runs; searches go on. `tag` is the owner's 64 bits,
    /// read back by `load(from:)` as `snapshotTag`: what tells a snapshot of this collection
    /// from a foreign file of the same format (the header's formerly reserved field).
    public func save(to path: String, tag: UInt64 = 0) throws {
        var w = SnapshotWriter()
        pthread_rwlock_wrlock(structure)
        do {
            defer { pthread_rwlock_unlock(structure) }
            let slots = slotCount.load(ordering: .acquiring)
            var upperTotal = 0
            for i in 0..<slots { upperTotal += Int(levels[i]) * upperStride * 4 }
            w.bytes.reserveCapacity(HNSWSnapshot.headerSize + slots * (8 + 2 + vectorBytes + links0Stride * 4) + upperTotal + 8)
            w.bytes.append(contentsOf: HNSWSnapshot.magic)
            w.u32(HNSWSnapshot.version)
            w.u8(metric.rawValue)
            w.u8(precision.rawValue)
            w.u8(parameters.keepPrunedConnections ? 1 : 0)
            w.u8(0)
            w.u32(UInt32(dimension))
            w.u32(UInt32(m))
            w.u32(UInt32(parameters.efConstruction))
            w.u32(UInt32(parameters.defaultEf))
            w.u64(UInt64(slots))
            w.u64(UInt64(liveCount.load(ordering: .relaxed)))
            w.u32(entryPoint.load(ordering: .relaxed))
            w.u32(UInt32(bitPattern: Int32(maxLevel.load(ordering: .relaxed))))
            w.u64(parameters.seed)
            w.u64(insertions.load(ordering: .relaxed))
            w.u64(tag)
            precondition(w.bytes.count == HNSWSnapshot.headerSize)
            for i in 0..<slots { w.u64(labels[i]) }
            w.raw(levels, slots)
            w.raw(flags, slots)
            for i in 0..<slots { w.raw(vectorAddress(UInt32(i)), vectorBytes) }
            for i in 0..<slots * links0Stride { w.u32(links0[i]) }
            for i in 0..<slots where levels[i] > 0 {
                let block = upper[i]!
                for j in 0..<Int(levels[i]) * upperStride { w.u32(block[j]) }
            }
        }
        let sum = w.bytes.withUnsafeBytes { vk_checksum($0.baseAddress, $0.count, 0x41495748) }
        w.u64(sum)
        try HNSWIndex.writeAtomically(w.bytes, to: path)
    }

    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw VectorIndexError.snapshot("cannot create \(temporary): errno \(errno)") }
        var written = 0
        let ok = bytes.withUnsafeBytes { raw -> Bool in
            while written < raw.count {
                let n = write(fd, raw.baseAddress! + written, raw.count - written)
                if n <= 0 { return false }
                written += n
            }
            return fsync(fd) == 0
        }
        close(fd)
        guard ok else {
            unlink(temporary)
            throw VectorIndexError.snapshot("cannot write \(temporary): errno \(errno)")
        }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw VectorIndexError.snapshot("cannot rename \(temporary) to \(path): errno \(errno)")
        }
        let directory = (path as NSString).deletingLastPathComponent
        let dfd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }

    /// Reads an index written by `save(to:)`.
    public static func load(from path: String) throws -> HNSWIndex {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw VectorIndexError.snapshot("cannot read \(path): \(error.localizedDescription)")
        }
        return try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> HNSWIndex in
            guard let base = raw.baseAddress, raw.count >= HNSWSnapshot.headerSize + 8 else {
                throw VectorIndexError.snapshot("\(path) is too short to be a snapshot (\(raw.count) bytes)")
            }
            return try load(base, raw.count, path: path)
        }
    }

    static func load(_ base: UnsafeRawPointer, _ size: Int, path: String) throws(VectorIndexError) -> HNSWIndex {
        var r = SnapshotReader(base: base, count: size - 8)
        let magic = Array(UnsafeRawBufferPointer(start: try r.take(8), count: 8))
        guard magic == HNSWSnapshot.magic else { throw .snapshot("\(path) is not an HNSW snapshot (bad magic)") }
        let version = try r.u32()
        guard version == HNSWSnapshot.version else {
            throw .snapshot("\(path) has format version \(version); this build reads version \(HNSWSnapshot.version)")
        }
        let stored = UInt64(littleEndian: (base + size - 8).loadUnaligned(as: UInt64.self))
        guard vk_checksum(base, size - 8, 0x41495748) == stored else {
            throw .snapshot("\(path) is corrupted (checksum mismatch)")
        }
        guard let metric = DistanceMetric(rawValue: try r.u8()) else { throw .snapshot("unknown metric") }
        guard let precision = VectorPrecision(rawValue: try r.u8()) else { throw .snapshot("unknown precision") }
        let keepPruned = try r.u8() == 1
        _ = try r.u8()
        let dimension = Int(try r.u32())
        let m = Int(try r.u32())
        let efConstruction = Int(try r.u32())
        let defaultEf = Int(try r.u32())
        let slots = try r.u64()
        let live = try r.u64()
        let entry = try r.u32()
        let top = Int(Int32(bitPattern: try r.u32()))
        let seed = try r.u64()
        let insertions = try r.u64()
        let tag = try r.u64()
        guard dimension >= 1 && dimension <= 65_536, m >= 2 && m <= 128, efConstruction >= 1, defaultEf >= 1 else {
            throw .snapshot("implausible parameters (dimension \(dimension), m \(m))")
        }
        guard slots <= UInt64(UInt32.max - 1), live <= slots else { throw .snapshot("implausible counts") }
        let n = Int(slots)
        // Every size is checked against the file before anything is allocated: a header may
        // not make the loader reserve memory the file cannot fill.
        let perSlot = 8 + 1 + 1 + dimension * precision.bytesPerComponent + (1 + 2 * m) * 4
        let (needed, overflow) = n.multipliedReportingOverflow(by: perSlot)
        guard !overflow, needed <= r.count - r.offset else {
            throw .snapshot("file is truncated: \(n) nodes need at least \(needed) bytes, \(r.count - r.offset) remain")
        }
        let parameters = HNSWParameters(m: m, efConstruction: efConstruction, defaultEf: defaultEf, precision: precision,
                                        keepPrunedConnections: keepPruned, seed: seed, initialCapacity: max(n, 16))
        let index = try HNSWIndex(dimension: dimension, metric: metric, parameters: parameters)
        index.snapshotTag = tag
        let labels = try r.take(n * 8)
        let levels = try r.take(n)
        let flags = try r.take(n)
        let vectorBytes = index.vectorBytes
        let vectors = try r.take(n * vectorBytes)
        let links0 = try r.take(n * index.links0Stride * 4)
        for i in 0..<n {
            index.labels[i] = UInt64(littleEndian: (labels + i * 8).loadUnaligned(as: UInt64.self))
            let level = levels.load(fromByteOffset: i, as: UInt8.self)
            guard level <= 32 else { throw .snapshot("node \(i) has level \(level)") }
            index.levels[i] = level
            index.flags[i] = flags.load(fromByteOffset: i, as: UInt8.self) & HNSWIndex.deletedFlag
            index.vectorAddress(UInt32(i)).copyMemory(from: vectors + i * vectorBytes, byteCount: vectorBytes)
        }
        func readList(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<UInt32>, capacity: Int, node: Int) throws(VectorIndexError) {
            let count = UInt32(littleEndian: src.loadUnaligned(as: UInt32.self))
            guard count <= UInt32(capacity) else { throw .snapshot("node \(node) has \(count) links, at most \(capacity) fit") }
            dst[0] = count
            for j in 0..<capacity {
                let v = UInt32(littleEndian: (src + 4 + j * 4).loadUnaligned(as: UInt32.self))
                if j < Int(count) && Int(v) >= n { throw .snapshot("node \(node) links to \(v), beyond \(n) nodes") }
                dst[1 + j] = v
            }
        }
        for i in 0..<n {
            try readList(links0 + i * index.links0Stride * 4, into: index.links0 + i * index.links0Stride, capacity: index.m0, node: i)
        }
        for i in 0..<n where index.levels[i] > 0 {
            let level = Int(index.levels[i])
            let block = UnsafeMutablePointer<UInt32>.allocate(capacity: level * index.upperStride)
            index.upper[i] = block
            let src = try r.take(level * index.upperStride * 4)
            for l in 0..<level {
                try readList(src + l * index.upperStride * 4, into: block + l * index.upperStride, capacity: index.m, node: i)
            }
        }
        guard r.offset == r.count else { throw .snapshot("\(r.count - r.offset) unexpected bytes before the checksum") }
        if n > 0 {
            guard Int(entry) < n, top >= 0, top == Int(index.levels[Int(entry)]) else { throw .snapshot("invalid entry point") }
        } else {
            guard top == -1 else { throw .snapshot("invalid entry point") }
        }
        // Upper-level links must point at nodes that have that level.
        for i in 0..<n where index.levels[i] > 0 {
            for l in 1...Int(index.levels[i]) {
                let list = index.links(UInt32(i), level: l)
                for j in 0..<Int(list[0]) where Int(index.levels[Int(list[1 + j])]) < l {
                    throw .snapshot("node \(i) links on level \(l) to a node without that level")
                }
            }
        }
        index.slotCount.store(n, ordering: .relaxed)
        index.entryPoint.store(n > 0 ? entry : UInt32.max, ordering: .relaxed)
        index.maxLevel.store(top, ordering: .relaxed)
        index.insertions.store(insertions, ordering: .relaxed)
        var liveCount = 0
        var free: [UInt32] = []
        // Sized once: growing 64 maps by doubling to a million ids was a tenth of a 1M load.
        let perShard = Int(live) / index.labelShards.count + Int(live) / (4 * index.labelShards.count) + 16
        for shard in index.labelShards { shard.map.withLock { $0.reserveCapacity(perShard) } }
        for i in 0..<n {
            if index.flags[i] & HNSWIndex.deletedFlag != 0 {
                free.append(UInt32(i))
                continue
            }
            let id = index.labels[i]
            let duplicate = index.shard(id).map.withLock { map -> Bool in
                if map[id] != nil { return true }
                map[id] = UInt32(i)
                return false
            }
            if duplicate { throw .snapshot("id \(id) appears twice") }
            liveCount += 1
        }
        guard liveCount == Int(live) else { throw .snapshot("live count \(live) does not match the nodes (\(liveCount))") }
        index.liveCount.store(liveCount, ordering: .relaxed)
        let freeSlots = free
        index.freeSlots.withLock { $0 = freeSlots }
        return index
    }
}
