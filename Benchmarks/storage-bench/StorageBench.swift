import ArgumentParser
import Dispatch
import Net
import Storage
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Store throughput through the real Store API, for comparison with pgbench and COPY on the
/// same server (Benchmarks/compare/storage.sh). Prints one JSON line.
@main
struct StorageBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "storage-bench",
        abstract: "Point reads or batched vector upserts through the Store API; one JSON line out.")

    @Option(help: "postgres:// URL; without it, SQLite under --data-dir.") var databaseURL: String?
    @Option(help: "SQLite data directory when no URL is given.") var dataDir = "./bench-data"
    @Option(help: "Database connections (and operations in flight), spread over the loops.") var connections = 8
    @Option(help: "Measured seconds (after one second of warm-up).") var seconds = 10.0
    @Option(help: "point-read or upsert-batch.") var op = "point-read"
    @Option(help: "Event loops.") var loops = EventLoopGroup.coreCount
    @Option(help: "Rows per upsert batch.") var batch = 500
    @Option(help: "Vector dimension for upserts.") var dimension = 384
    @Option(help: "Documents to fill before point reads.") var documents = 100_000
    @Flag(help: "Print 'ack SEQUENCE ROWS' on standard output after each acknowledged batch.") var reportAcks = false
    @Option(help: "Point reads through the callback API or the async one (each in-flight slot a task awaiting in a loop).") var api = "callback"

    mutating func run() throws {
        guard op == "point-read" || op == "upsert-batch" else { throw ValidationError("--op is point-read or upsert-batch") }
        guard api == "callback" || (api == "async" && op == "point-read") else { throw ValidationError("--api is callback, or async for point-read") }
        guard connections >= 1, loops >= 1, batch >= 1, dimension >= 1 else { throw ValidationError("counts must be positive") }
        let perLoop = (connections + loops - 1) / loops
        let configuration = StoreConfiguration(databaseURL: databaseURL, dataDirectory: dataDir,
                                               minimumConnections: perLoop, maximumConnections: perLoop)
        let backend = try configuration.openBackend()
        try Migrator(backend: backend).migrate()
        let store = Store(backend: backend)
        let group = try EventLoopGroup(loopCount: loops)
        group.start()
        defer {
            group.stop()
            group.join()
            backend.shutdown()
        }
        let workload = try Workload.prepare(op: op, store: store, backend: backend, loop: group.loops[0],
                                            documents: documents, dimension: dimension)
        let runs = group.loops.enumerated().map { index, loop in
            LoopRun(loop: loop, store: store, workload: workload, inFlight: perLoop - (index < perLoop * loops - connections ? 1 : 0),
                    batch: batch, dimension: dimension, reportAcks: reportAcks, seed: UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15)
        }
        let useAsync = api == "async"
        for run in runs { run.loop.execute { if useAsync { run.startAsync() } else { run.start() } } }
        usleep(1_000_000)
        for run in runs { run.loop.execute { run.measuring = true } }
        let started = EventLoop.monotonicNanoseconds
        usleep(UInt32(seconds * 1_000_000))
        for run in runs { run.loop.execute { run.measuring = false; run.stopping = true } }
        let elapsed = Double(EventLoop.monotonicNanoseconds - started) / 1e9
        for run in runs { run.finished.wait() }

        var latencies: [UInt64] = []
        var operations = 0, rows = 0, errors = 0
        var firstError = ""
        for run in runs {
            latencies += run.latencies
            operations += run.latencies.count
            rows += run.rows
            errors += run.errors
            if firstError.isEmpty { firstError = run.firstError }
        }
        latencies.sort()
        func percentile(_ p: Double) -> Double {
            latencies.isEmpty ? 0 : Double(latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]) / 1e6
        }
        var line = "{\"op\":\"\(op)\",\"backend\":\"\(databaseURL == nil ? "sqlite" : "postgres")\",\"connections\":\(connections)"
        line += ",\"seconds\":\(round3(elapsed)),\"ops\":\(operations),\"ops_per_s\":\(round3(Double(operations) / elapsed))"
        if op == "upsert-batch" { line += ",\"rows_per_s\":\(round3(Double(rows) / elapsed))" }
        line += ",\"p50_ms\":\(round3(percentile(0.5))),\"p99_ms\":\(round3(percentile(0.99))),\"errors\":\(errors)"
        if !firstError.isEmpty { line += ",\"first_error\":\"\(firstError.filter { $0 != "\"" && $0 != "\\" })\"" }
        print(line + "}")
        fflush(nil)
    }
}

func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }

/// What the runs operate on, found or made before measuring.
struct Workload: Sendable {
    var tenant = "bench"
    var firstDocument: Int64 = 0
    var lastDocument: Int64 = 0
    var collection: VectorCollection?
    /// Distinguishes this run's record ids from earlier runs'.
    var runTag = String(UInt64.random(in: 0...UInt64.max), radix: 36)

    static func prepare(op: String, store: Store, backend: any SQLBackend, loop: EventLoop, documents: Int,
                        dimension: Int) throws -> Workload {
        var workload = Workload()
        let tenant = workload.tenant
        _ = blocking(loop) { l, done in store.createTenant(id: tenant, name: "benchmark", on: l, done) }
        if op == "point-read" {
            var (count, first, last) = try documentRange(backend)
            if count < documents {
                try fill(store: store, loop: loop, count: documents - count)
                (count, first, last) = try documentRange(backend)
            }
            workload.firstDocument = first
            workload.lastDocument = last
        } else {
            let name = "bench-\(dimension)"
            var found = blocking(loop) { l, done in store.collection(tenantID: tenant, name: name, on: l, done) }
            if case .failure(.notFound) = found {
                found = blocking(loop) { l, done in store.createCollection(tenantID: tenant, name: name, dimension: dimension, metric: .cosine, on: l, done) }
            }
            workload.collection = try found.get()
        }
        return workload
    }

    static func documentRange(_ backend: any SQLBackend) throws -> (Int, Int64, Int64) {
        let row = try backend.withSession { session throws(StoreError) in
            try session.rows("SELECT count(*), COALESCE(min(id), 0), COALESCE(max(id), 0) FROM documents WHERE tenant_id = 'bench'")[0]
        }
        guard case .integer(let count) = row[0], case .integer(let first) = row[1], case .integer(let last) = row[2] else {
            return (0, 0, 0)
        }
        return (Int(count), first, last)
    }

    /// Creates `count` documents through the Store API, 64 in flight.
    static func fill(store: Store, loop: EventLoop, count: Int) throws {
        let done = DispatchSemaphore(value: 0)
        let failure = Mutex<StoreError?>(nil)
        loop.execute {
            var issued = 0, completed = 0
            func next() {
                guard issued < count else { return }
                issued += 1
                let n = issued
                store.createDocument(tenantID: "bench", title: "Document \(n)", body: String(repeating: "lorem ipsum ", count: 16),
                                     metadata: "{\"n\":\(n)}", on: loop) { result in
                    if case .failure(let error) = result { failure.withLock { $0 = $0 ?? error } }
                    completed += 1
                    if completed == count { done.signal() } else { next() }
                }
            }
            for _ in 0..<min(64, count) { next() }
        }
        done.wait()
        if let error = failure.withLock({ $0 }) { throw error }
    }
}

/// Runs one Store call from a non-loop thread and waits for it (setup only).
func blocking<T: Sendable>(_ loop: EventLoop, _ operation: @escaping @Sendable (EventLoop, @escaping (Result<T, StoreError>) -> Void) -> Void) -> Result<T, StoreError> {
    let done = DispatchSemaphore(value: 0)
    let box = Mutex<Result<T, StoreError>?>(nil)
    loop.execute {
        operation(loop) { result in
            box.withLock { $0 = result }
            done.signal()
        }
    }
    done.wait()
    return box.withLock { $0! }
}

/// The operations one loop keeps in flight; everything in it runs on that loop.
final class LoopRun: @unchecked Sendable {
    // @unchecked: mutated only on `loop`; read by the main thread after `finished` is signalled.
    let loop: EventLoop
    let store: Store
    let workload: Workload
    let inFlight: Int
    let batch: Int
    let dimension: Int
    let reportAcks: Bool
    var random: SplitMix64
    var measuring = false
    var stopping = false
    var active = 0
    var latencies: [UInt64] = []
    var rows = 0
    var errors = 0
    var firstError = ""
    var nextRecord = 0
    let finished = DispatchSemaphore(value: 0)

    init(loop: EventLoop, store: Store, workload: Workload, inFlight: Int, batch: Int, dimension: Int, reportAcks: Bool, seed: UInt64) {
        self.loop = loop
        self.store = store
        self.workload = workload
        self.inFlight = inFlight
        self.batch = batch
        self.dimension = dimension
        self.reportAcks = reportAcks
        random = SplitMix64(seed: seed)
    }

    func start() {
        if inFlight == 0 { finished.signal(); return }
        for _ in 0..<inFlight { issue() }
    }

    /// The async API: each in-flight slot is one task on the loop awaiting read after read,
    /// so what is measured beside `start()` is the cost of an awaited Store call, not of
    /// making tasks.
    func startAsync() {
        if inFlight == 0 { finished.signal(); return }
        for _ in 0..<inFlight {
            active += 1
            loop.spawn { [self] in
                let span = UInt64(workload.lastDocument - workload.firstDocument + 1)
                while !stopping {
                    let id = workload.firstDocument + Int64(random.next() % span)
                    let started = EventLoop.monotonicNanoseconds
                    do throws(StoreError) {
                        _ = try await store.document(tenantID: workload.tenant, id: id, on: loop)
                        if measuring { latencies.append(EventLoop.monotonicNanoseconds - started) }
                    } catch {
                        errors += 1
                        if firstError.isEmpty { firstError = error.description }
                    }
                }
                active -= 1
                if active == 0 { finished.signal() }
            }
        }
    }

    func issue() {
        guard !stopping else {
            if active == 0 { finished.signal() }
            return
        }
        active += 1
        let started = EventLoop.monotonicNanoseconds
        if let collection = workload.collection {
            var records: [RecordInput] = []
            records.reserveCapacity(batch)
            for _ in 0..<batch {
                nextRecord += 1
                var vector = [Float](repeating: 0, count: dimension)
                for d in 0..<dimension { vector[d] = Float(random.next() >> 40) / Float(1 << 24) - 0.5 }
                records.append(RecordInput(id: "\(workload.runTag)-\(loop.index)-\(nextRecord)", vector: vector,
                                           metadata: "{\"batch\":\(nextRecord / batch)}"))
            }
            let count = records.count
            store.upsertRecords(records, into: collection, on: loop) { [self] result in
                if case .success(let receipt) = result {
                    if reportAcks {
                        print("ack \(receipt.lastSequence) \(count)")
                        fflush(nil)
                    }
                    if measuring { rows += count }
                }
                completed(started, result.map { _ in () })
            }
        } else {
            let span = UInt64(workload.lastDocument - workload.firstDocument + 1)
            let id = workload.firstDocument + Int64(random.next() % span)
            store.document(tenantID: workload.tenant, id: id, on: loop) { [self] result in
                completed(started, result.map { _ in () })
            }
        }
    }

    func completed(_ started: UInt64, _ result: Result<Void, StoreError>) {
        active -= 1
        if case .failure(let error) = result {
            errors += 1
            if firstError.isEmpty { firstError = error.description }
        } else if measuring {
            latencies.append(EventLoop.monotonicNanoseconds - started)
        }
        issue()
    }
}
