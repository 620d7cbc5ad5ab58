import CUV
#if canImport(Glibc)
import Glibc
#endif

/// N event loops, each on its own thread (default: one per core).
public final class EventLoopGroup: @unchecked Sendable {
    // @unchecked: `loops` is immutable after init; each loop is driven only by its own thread.

    public let loops: [EventLoop]

    /// `threadName` prefixes each loop thread's name ("loop-0", …; Linux keeps 15 bytes).
    public init(loopCount: Int = EventLoopGroup.coreCount, threadName: String = "loop") throws(NetError) {
        precondition(loopCount >= 1)
        var loops: [EventLoop] = []
        for i in 0..<loopCount { loops.append(try EventLoop(index: i, threadName: "\(threadName)-\(i)")) }
        self.loops = loops
    }

    /// Online processors, as the kernel reports them.
    public static var coreCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Starts one thread per loop.
    public func start() {
        for loop in loops {
            var thread = pthread_t()
            let arg = Unmanaged.passRetained(loop).toOpaque()
            let rc = pthread_create(&thread, nil, eventLoopThreadMain, arg)
            precondition(rc == 0, "pthread_create failed")
            loop.thread = thread
        }
    }

    /// Asks every loop to stop; returns at once.
    public func stop() {
        for loop in loops { loop.execute { loop.stopOnLoop() } }
    }

    /// Waits for every loop thread to return.
    public func join() {
        for loop in loops {
            if let thread = loop.thread { pthread_join(thread, nil) }
        }
    }
}

/// The thread entry is a plain global function: a closure written in top-level code would be
/// inferred @MainActor and trap on the new thread.
private func eventLoopThreadMain(_ arg: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    let loop = Unmanaged<EventLoop>.fromOpaque(arg!).takeRetainedValue()
    cuv_set_thread_name(loop.threadName)
    loop.run()
    return nil
}
