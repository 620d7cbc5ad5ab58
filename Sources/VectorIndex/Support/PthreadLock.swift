#if canImport(Glibc)
import Glibc
#endif

/// A mutex-protected value on a pthread mutex. Synchronization's Mutex would do, but on Linux
/// it is built on futexes the thread sanitizer cannot see, which turns every access it guards
/// into a reported race; pthread mutexes are intercepted, so the index stays TSan-clean.
final class PthreadLocked<Value>: @unchecked Sendable {
    // @unchecked: `value` is only touched while `mutex` is held.
    private var value: Value
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inline(__always)
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
