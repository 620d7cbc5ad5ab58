import ArgumentParser
import Foundation
import VectorIndex

/// Builds an HNSW index from a texmex `.fvecs` file and measures recall@k and single-thread
/// QPS per ef against exact ground truth, printing one JSON object per line.
@main
struct ANNBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ann-bench", abstract: "Recall and QPS of the HNSW index on texmex data.")

    @Option(help: "Base vectors (.fvecs).") var base: String
    @Option(help: "Query vectors (.fvecs).") var queries: String
    @Option(help: "Exact neighbours of each query (.ivecs).") var groundtruth: String
    @Option(help: "cosine, ip or l2.") var metric: String = "cosine"
    @Option(help: "Links per node (2M on level 0).") var m: Int = 16
    @Option(name: .customLong("ef-construction"), help: "Beam width while building.") var efConstruction: Int = 200
    @Option(help: "Comma-separated beam widths to measure.") var ef: String = "10,16,24,32,48,64,96,128,200,256"
    @Option(help: "Neighbours per query.") var k: Int = 10
    @Option(help: "Threads used to build (queries always run on one).") var threads: Int = 1
    @Option(help: "auto (float16 for cosine, float32 otherwise), float32 or float16.") var precision: String = "auto"
    @Option(help: "Use only the first N base vectors (ground truth must match).") var limit: Int?
    @Option(help: "Repeat each ef's query pass this many times and keep the fastest.") var repeats: Int = 1
    @Option(help: "Add the base in batches of this many (as the gateway links), not in one call.") var batch: Int?
    @Flag(help: "Add the base in a shuffled order (seeded), ids unchanged.") var shuffle = false
    @Option(name: .customLong("initial-capacity"), help: "Slots allocated up front (default: the base's count).") var initialCapacity: Int?

    func run() throws {
        guard let metric = DistanceMetric(name: metric) else { throw ValidationError("unknown metric \(metric)") }
        let storage: VectorPrecision?
        switch precision {
        case "auto": storage = nil
        case "float16": storage = .float16
        case "float32": storage = .float32
        default: throw ValidationError("precision must be auto, float32 or float16")
        }
        // Index memory is measured as resident memory after the input is freed, against
        // resident memory before anything was read.
        let rssBefore = residentBytes()
        var (baseVectors, dimension) = try readFvecs(base)
        if let limit { baseVectors = Array(baseVectors.prefix(limit * dimension)) }
        let (queryVectors, queryDimension) = try readFvecs(queries)
        guard queryDimension == dimension else { throw ValidationError("queries have \(queryDimension) dimensions, base \(dimension)") }
        let (truth, truthWidth) = try readIvecs(groundtruth)
        let baseCount = baseVectors.count / dimension
        let queryCount = queryVectors.count / dimension

        var parameters = HNSWParameters(m: m, efConstruction: efConstruction, precision: storage)
        parameters.initialCapacity = initialCapacity ?? baseCount
        let index = try HNSWIndex(dimension: dimension, metric: metric, parameters: parameters)
        var ids = (0..<baseCount).map { UInt64($0) }
        if shuffle {
            var generator = SplitMix(seed: 7)
            ids.shuffle(using: &generator)
            let ordered = baseVectors
            baseVectors.withUnsafeMutableBufferPointer { out in
                for (i, id) in ids.enumerated() {
                    for j in 0..<dimension { out[i * dimension + j] = ordered[Int(id) * dimension + j] }
                }
            }
        }
        let start = now()
        let step = batch ?? baseCount
        var first = 0
        while first < baseCount {
            let end = min(baseCount, first + step)
            try index.add(ids: Array(ids[first..<end]), vectors: Array(baseVectors[first * dimension..<end * dimension]), threads: threads)
            first = end
        }
        let buildSeconds = now() - start
        baseVectors = []
        let rssAfter = residentBytes()
        emit(["phase": "build", "seconds": buildSeconds, "threads": threads, "index_bytes": index.memoryBytes,
              "rss_delta_bytes": rssAfter - rssBefore, "count": baseCount, "dimension": dimension,
              "precision": index.precision.description, "kernels": DistanceKernels.best.name])

        for beam in ef.split(separator: ",", omittingEmptySubsequences: true).compactMap({ Int($0.trimmingCharacters(in: .whitespaces)) }) {
            var best = Double.infinity
            var hits = 0
            for round in 0..<max(1, repeats) {
                var found = 0
                let t0 = now()
                try queryVectors.withUnsafeBufferPointer { all in
                    for qi in 0..<queryCount {
                        let q = UnsafeBufferPointer(rebasing: all[qi * dimension..<(qi + 1) * dimension])
                        let results = try index.search(q, k: k, ef: beam)
                        if round == 0 {
                            let row = truth[(qi * truthWidth)..<(qi * truthWidth + k)]
                            for r in results where row.contains(Int32(r.id)) { found += 1 }
                        }
                    }
                }
                best = min(best, now() - t0)
                if round == 0 { hits = found }
            }
            emit(["ef": beam, "recall": Double(hits) / Double(queryCount * k), "qps": Double(queryCount) / best])
        }
    }

    func emit(_ object: [String: Any]) {
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}

/// Reads a texmex file (`.fvecs` or `.ivecs`): per row an int32 width, then that many 4-byte
/// values. Returns the rows back to back and the width.
func readVecs<T>(_ path: String, as: T.Type) throws -> ([T], Int) {
    precondition(MemoryLayout<T>.size == 4)
    let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
    guard data.count >= 4 else { throw ValidationError("\(path) is empty") }
    let width = Int(data.withUnsafeBytes { $0.load(as: Int32.self) })
    let rowBytes = 4 + width * 4
    guard width > 0, data.count % rowBytes == 0 else { throw ValidationError("\(path) is not a texmex file of \(width)-wide rows") }
    let rows = data.count / rowBytes
    let out = [T](unsafeUninitializedCapacity: rows * width) { buffer, count in
        data.withUnsafeBytes { raw in
            let dst = UnsafeMutableRawPointer(buffer.baseAddress!)
            for r in 0..<rows {
                (dst + r * width * 4).copyMemory(from: raw.baseAddress! + r * rowBytes + 4, byteCount: width * 4)
            }
        }
        count = rows * width
    }
    return (out, width)
}

func readFvecs(_ path: String) throws -> ([Float], Int) { try readVecs(path, as: Float.self) }
func readIvecs(_ path: String) throws -> ([Int32], Int) { try readVecs(path, as: Int32.self) }

/// A seeded generator, so a shuffled build is the same build every run.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}
