import VectorKernels

/// The distance kernels this CPU runs best, resolved once (AVX-512, AVX2+FMA+F16C, or
/// portable C), with the metric folded in.
public struct DistanceKernels: @unchecked Sendable {
    // @unchecked: immutable C function pointers into static tables.
    let dotF32: vk_f32_kernel
    let l2F32: vk_f32_kernel
    let dotF16: vk_f16_kernel
    let l2F16: vk_f16_kernel
    public let name: String

    /// The best available set, or a specific level (0 portable, 1 AVX2, 2 AVX-512) when the
    /// CPU has it.
    public init?(level: Int? = nil) {
        guard let k = level.map({ vk_kernels_level(Int32($0)) }) ?? vk_best_kernels() else { return nil }
        dotF32 = k.pointee.dot_f32
        l2F32 = k.pointee.l2_f32
        dotF16 = k.pointee.dot_f16
        l2F16 = k.pointee.l2_f16
        name = String(cString: k.pointee.name)
    }

    public static let best = DistanceKernels()!

    @inline(__always)
    func distance(_ metric: DistanceMetric, _ query: UnsafePointer<Float>, f32 v: UnsafePointer<Float>, _ n: Int) -> Float {
        metric == .l2 ? l2F32(query, v, n) : 1 - dotF32(query, v, n)
    }

    @inline(__always)
    func distance(_ metric: DistanceMetric, _ query: UnsafePointer<Float>, f16 v: UnsafePointer<UInt16>, _ n: Int) -> Float {
        metric == .l2 ? l2F16(query, v, n) : 1 - dotF16(query, v, n)
    }

    /// Raw inner product, for tests and tools.
    public func dot(_ a: [Float], _ b: [Float]) -> Float { dotF32(a, b, a.count) }
    public func squaredL2(_ a: [Float], _ b: [Float]) -> Float { l2F32(a, b, a.count) }
    public func dot(_ a: [Float], half b: [UInt16]) -> Float { dotF16(a, b, a.count) }
    public func squaredL2(_ a: [Float], half b: [UInt16]) -> Float { l2F16(a, b, a.count) }
}
