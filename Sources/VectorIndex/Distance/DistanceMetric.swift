/// How closeness is measured. Smaller distances are closer for every metric.
public enum DistanceMetric: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// 1 − cosine similarity. Vectors are normalised when they are added and queried, so the
    /// index computes an inner product.
    case cosine = 0
    /// 1 − inner product (vectors used as given).
    case innerProduct = 1
    /// Squared Euclidean distance.
    case l2 = 2

    public var description: String {
        switch self {
        case .cosine: return "cosine"
        case .innerProduct: return "ip"
        case .l2: return "l2"
        }
    }

    public init?(name: String) {
        switch name.lowercased() {
        case "cosine": self = .cosine
        case "ip", "inner_product", "innerproduct", "dot": self = .innerProduct
        case "l2", "euclidean": self = .l2
        default: return nil
        }
    }
}

/// How vectors are kept in memory. `float16` halves the memory and the bytes each distance
/// reads (IEEE binary16 keeps ~3.3 significant digits; distances differ from float32 by
/// about 1e-4), which is usually the faster choice for search.
public enum VectorPrecision: UInt8, Sendable, CustomStringConvertible {
    case float32 = 0
    case float16 = 1

    public var bytesPerComponent: Int { self == .float32 ? 4 : 2 }
    public var description: String { self == .float32 ? "float32" : "float16" }
}
