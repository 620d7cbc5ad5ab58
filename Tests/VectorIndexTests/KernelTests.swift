import Testing
import TestSupport
import VectorKernels
@testable import VectorIndex

@Suite("Distance kernels")
struct KernelTests {
    static let levels: [Int] = (0...2).filter { vk_kernels_level(Int32($0)) != nil }

    @Test("every kernel agrees with the double-precision reference within 1e-4", arguments: KernelTests.levels)
    func agreesWithReference(_ level: Int) throws {
        let kernels = try #require(DistanceKernels(level: level))
        var rng = SplitMix(state: 7)
        for n in Array(1...70) + [127, 128, 129, 255, 384, 768, 1000] {
            let a = (0..<n).map { _ in Float.random(in: -2...2, using: &rng) }
            let b = (0..<n).map { _ in Float.random(in: -2...2, using: &rng) }
            let dot = Double(kernels.dot(a, b))
            let refDot = vk_reference_dot(a, b, n)
            // Relative to the sum of magnitudes: the dot product itself may cancel to ~0.
            let scale = zip(a, b).reduce(0.0) { $0 + abs(Double($1.0 * $1.1)) }
            #expect(abs(dot - refDot) <= 1e-4 * max(scale, 1e-30), "dot n=\(n) level \(level)")
            let l2 = Double(kernels.squaredL2(a, b))
            let refL2 = vk_reference_l2(a, b, n)
            #expect(abs(l2 - refL2) <= 1e-4 * max(refL2, 1e-30), "l2 n=\(n) level \(level)")
            // float16 storage: the kernel against the reference on the rounded values.
            var half = [UInt16](repeating: 0, count: n)
            var rounded = [Float](repeating: 0, count: n)
            vk_f32_to_f16(b, &half, n)
            vk_f16_to_f32(half, &rounded, n)
            let refHalfDot = vk_reference_dot(a, rounded, n)
            #expect(abs(Double(kernels.dot(a, half: half)) - refHalfDot) <= 1e-4 * max(scale, 1e-30), "f16 dot n=\(n)")
            let refHalfL2 = vk_reference_l2(a, rounded, n)
            #expect(abs(Double(kernels.squaredL2(a, half: half)) - refHalfL2) <= 1e-4 * max(refHalfL2, 1e-30), "f16 l2 n=\(n)")
        }
    }

    @Test func float16ConversionIsRoundToNearestEvenAndHandlesSpecials() {
        let values: [Float] = [0, -0.0, 1, -2, 0.1, 65504, 65520, 1e-5, 6e-8, 1e-9, .infinity, -.infinity, 3.14159, 2049, 2051]
        var half = [UInt16](repeating: 0, count: values.count)
        vk_f32_to_f16(values, &half, values.count)
        var back = [Float](repeating: 0, count: values.count)
        vk_f16_to_f32(half, &back, values.count)
        #expect(back[0] == 0 && back[2] == 1 && back[3] == -2 && back[5] == 65504)
        #expect(back[6] == .infinity) // 65520 rounds up past the largest finite half
        #expect(abs(back[4] - 0.1) < 1e-4)
        #expect(back[9] == 0) // below the smallest subnormal
        #expect(back[10] == .infinity && back[11] == -.infinity)
        #expect(back[13] == 2048 && back[14] == 2052) // ties to even at the 2048 step
        // The float32 value of every half round-trips exactly.
        for bits in stride(from: 0, through: 0x7BFF, by: 37) {
            var h = [UInt16(bits)]
            var f = [Float](repeating: 0, count: 1)
            vk_f16_to_f32(&h, &f, 1)
            var again = [UInt16](repeating: 0, count: 1)
            vk_f32_to_f16(f, &again, 1)
            #expect(again[0] == UInt16(bits))
        }
    }

    @Test func checksumSeesEveryByte() {
        var bytes = [UInt8](repeating: 7, count: 1001)
        let a = vk_checksum(bytes, bytes.count, 1)
        bytes[1000] ^= 1
        let b = vk_checksum(bytes, bytes.count, 1)
        bytes[1000] ^= 1
        bytes[3] ^= 0x80
        let c = vk_checksum(bytes, bytes.count, 1)
        #expect(a != b && a != c && b != c)
    }
}
