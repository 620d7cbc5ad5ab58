/// Restricts a search to some ids. When so few points pass that the graph walk would starve
/// (under `exactScanThreshold` of the index), the search scans the allowed points exactly
/// instead, so recall never drops below the unfiltered search's.
public enum SearchFilter: Sendable {
    /// Only these ids.
    case allowing(Set<UInt64>)
    /// Ids for which the predicate holds (evaluated on the searching thread).
    case predicate(@Sendable (UInt64) -> Bool)

    /// Fraction of the index below which a filtered search scans exactly.
    public static let exactScanThreshold = 0.02
}
