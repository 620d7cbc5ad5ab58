/// Why an index operation was refused. Every case carries enough to act on.
public enum VectorIndexError: Error, Equatable, CustomStringConvertible, Sendable {
    case dimensionMismatch(expected: Int, got: Int)
    case nonFiniteComponent(index: Int)
    case zeroVectorForCosine
    case outOfFloat16Range(index: Int)
    case invalidParameters(String)
    case notFound(UInt64)
    case snapshot(String)

    public var description: String {
        switch self {
        case .dimensionMismatch(let e, let g): return "vector has \(g) components, the index expects \(e)"
        case .nonFiniteComponent(let i): return "component \(i) is NaN or infinite"
        case .zeroVectorForCosine: return "a zero vector has no direction: cosine distance is undefined"
        case .outOfFloat16Range(let i): return "component \(i) is beyond ±65504, which float16 storage cannot hold (use float32)"
        case .invalidParameters(let s): return "invalid parameters: \(s)"
        case .notFound(let id): return "no vector with id \(id)"
        case .snapshot(let s): return "snapshot: \(s)"
        }
    }
}
