import Synchronization

/// Names what a service keeps on each loop (`EventLoop.local(for:create:)`). A number that is
/// never reused, not an object's address: a service that dies and a new one allocated at the
/// same address must not inherit its per-loop state (a pool connected to another server).
public struct LoopLocalKey: Hashable, Sendable {
    @usableFromInline let id: UInt64

    private static let next = Atomic<UInt64>(1)

    public init() {
        id = LoopLocalKey.next.add(1, ordering: .relaxed).oldValue
    }
}
