// libFuzzer entry for the HNSW snapshot loader (VectorIndex/Snapshot), built by Fuzz/run.sh with
// -sanitize=fuzzer,address. Invariant: any byte string either is rejected with a thrown
// VectorIndexError or loads into an index that can be searched and saved again; nothing
// crashes or reads out of bounds. The checksum would reject almost every mutation before the
// structural checks, so the fuzzer also recomputes it on every input to reach them.
import Foundation
import VectorKernels

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    // Seed files: real snapshots of small indexes, written when asked.
    guard let dir = ProcessInfo.processInfo.environment["AIW_FUZZ_SEEDS"] else { return 0 }
    for (i, metric) in [DistanceMetric.cosine, .l2, .innerProduct].enumerated() {
        let index = try! HNSWIndex(dimension: 4, metric: metric, parameters: HNSWParameters(m: 4, efConstruction: 16))
        for j in 0..<(12 + 10 * i) {
            try! index.add(id: UInt64(j * 7 + i), vector: [Float(j % 5) + 1, Float(j % 3), Float(j), 1])
        }
        if i == 1 { index.remove(id: 7) }
        try! index.save(to: "\(dir)/seed-\(i).snap")
    }
    try! HNSWIndex(dimension: 3, metric: .l2).save(to: "\(dir)/seed-empty.snap")
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= HNSWSnapshot.headerSize + 8 else { return 0 }
    var bytes = Array(UnsafeBufferPointer(start: data, count: size))
    // Re-seal with a valid checksum so mutations reach the structural checks.
    let sum = bytes.withUnsafeBytes { vk_checksum($0.baseAddress, size - 8, 0x41495748) }
    withUnsafeBytes(of: sum.littleEndian) { for k in 0..<8 { bytes[size - 8 + k] = $0[k] } }
    for candidate in [Array(UnsafeBufferPointer(start: data, count: size)), bytes] {
        let loaded = candidate.withUnsafeBytes { try? HNSWIndex.load($0.baseAddress!, $0.count, path: "fuzz") }
        if let index = loaded {
            let query = [Float](repeating: 0.5, count: index.dimension)
            _ = try? index.search(query, k: 3, ef: 8)
            _ = try? index.search(query, k: 3, ef: 8, filter: .predicate({ $0 % 2 == 0 }))
            try? index.add(id: 424242, vector: query)
        }
    }
    return 0
}
