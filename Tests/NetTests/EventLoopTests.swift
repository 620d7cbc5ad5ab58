import Foundation
import Synchronization
import Testing
@testable import Net
#if canImport(Glibc)
import Glibc
#endif

@Suite("Event loops")
struct EventLoopTests {
    /// Waits (bounded) until `condition` holds.
    func eventually(_ seconds: Double = 5, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(5_000)
        }
        return condition()
    }

    @Test func executeRunsOnTheLoopThreadFromAnyThread() throws {
        let group = try EventLoopGroup(loopCount: 2, threadName: "aiw-loop")
        group.start()
        defer { group.stop(); group.join() }
        let ran = Mutex<[String]>([])
        for loop in group.loops {
            for i in 0..<100 {
                loop.execute {
                    let thread = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8))?
                        .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
                    ran.withLock { $0.append("\(thread) \(i)") }
                }
            }
        }
        #expect(eventually { ran.withLock { $0.count } == 200 })
        let names = Set(ran.withLock { $0 }.map { $0.split(separator: " ")[0] })
        #expect(names == ["aiw-loop-0", "aiw-loop-1"])
    }

    @Test func submitRunsOffTheLoopAndCompletesOnIt() throws {
        let group = try EventLoopGroup(loopCount: 1)
        group.start()
        defer { group.stop(); group.join() }
        let loop = group.loops[0]
        let result = Mutex<(value: Int, workThreadIsLoop: Bool, completionThreadIsLoop: Bool)?>(nil)
        loop.execute {
            let loopThread = pthread_self()
            loop.submit({ () -> (Int, pthread_t) in
                usleep(20_000) // blocking work must not run on the loop
                return ((1...1000).reduce(0, +), pthread_self())
            }, completion: { value, workThread in
                result.withLock { $0 = (value, pthread_equal(workThread, loopThread) != 0, pthread_equal(pthread_self(), loopThread) != 0) }
            })
        }
        #expect(eventually { result.withLock { $0 } != nil })
        let r = try #require(result.withLock { $0 })
        #expect(r.value == 500_500)
        #expect(!r.workThreadIsLoop)
        #expect(r.completionThreadIsLoop)
    }

    @Test func scheduledTasksRunInOrderAndCancelledOnesNever() throws {
        let group = try EventLoopGroup(loopCount: 1)
        group.start()
        defer { group.stop(); group.join() }
        let loop = group.loops[0]
        let order = Mutex<[Int]>([])
        loop.execute {
            loop.schedule(afterMilliseconds: 60) { order.withLock { $0.append(3) } }
            loop.schedule(afterMilliseconds: 10) { order.withLock { $0.append(1) } }
            let cancelled = loop.schedule(afterMilliseconds: 30) { order.withLock { $0.append(99) } }
            loop.schedule(afterMilliseconds: 40) { order.withLock { $0.append(2) } }
            cancelled.cancel()
        }
        #expect(eventually { order.withLock { $0.count } == 3 })
        usleep(50_000)
        #expect(order.withLock { $0 } == [1, 2, 3])
    }

    @Test func stoppingWithPendingTimersReturns() throws {
        let group = try EventLoopGroup(loopCount: 1)
        group.start()
        let loop = group.loops[0]
        loop.execute { loop.schedule(afterMilliseconds: 60_000) {} }
        usleep(20_000)
        let start = Date()
        group.stop()
        group.join()
        #expect(Date().timeIntervalSince(start) < 2)
    }

    /// A worker's completion that re-arms a timer (an hourly sweep) lands after the stop: the
    /// timer must not start, or the loop would turn, and `join` wait, for the hour.
    @Test func aTimerAskedForWhileStoppingNeverStarts() throws {
        let group = try EventLoopGroup(loopCount: 1)
        group.start()
        let loop = group.loops[0]
        let ran = Mutex(false)
        loop.execute {
            loop.submit({ usleep(100_000) }) { _ in loop.schedule(afterMilliseconds: 3_600_000) { ran.withLock { $0 = true } } }
        }
        usleep(20_000)
        let start = Date()
        group.stop()
        group.join()
        #expect(Date().timeIntervalSince(start) < 2)
        #expect(!ran.withLock { $0 })
    }
}
