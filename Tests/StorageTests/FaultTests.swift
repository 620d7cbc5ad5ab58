import Foundation
import Net
import Storage
import Testing
import TestSupport

@Suite("Storage faults", .serialized)
struct FaultTests {
    @Test("PostgreSQL stopped: units fail with unavailable at once, and the pool reconnects when it is back")
    func postgresStopped() async throws {
        let server = try PostgresServer()
        let configuration = StoreConfiguration(databaseURL: server.url, minimumConnections: 2, maximumConnections: 4,
                                               statementTimeoutMilliseconds: 2000, connectTimeoutMilliseconds: 2000)
        let backend = try configuration.openBackend()
        defer { backend.shutdown() }
        try Migrator(backend: backend).migrate()
        let store = Store(backend: backend)
        let loop = Fixture.loop
        _ = try await loop.perform { l, d in store.createTenant(id: "faults", name: "f", on: l, d) }
        let doc = try await loop.perform { l, d in store.createDocument(tenantID: "faults", title: "t", body: "b", metadata: nil, on: l, d) }

        server.stop()
        // Each unit's time is taken on the loop, from submission to completion, so a test
        // runner whose threads are busy with other suites cannot stretch it.
        try await withThrowingTaskGroup(of: (StoreError?, Double).self) { group in
            for i in 0..<10 {
                group.addTask {
                    let timed: (Result<Void, StoreError>, Double) = try await loop.perform { l, d in
                        let started = DispatchTime.now().uptimeNanoseconds
                        let finish: (Result<Void, StoreError>) -> Void = { result in
                            d(.success((result, Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)))
                        }
                        if i % 2 == 0 {
                            store.document(tenantID: "faults", id: doc.id, on: l) { finish($0.map { _ in () }) }
                        } else {
                            store.createDocument(tenantID: "faults", title: "x", body: "y", metadata: nil, on: l) { finish($0.map { _ in () }) }
                        }
                    }
                    if case .failure(let error) = timed.0 { return (error, timed.1) }
                    return (nil, timed.1)
                }
            }
            for try await (error, seconds) in group {
                #expect(error?.httpStatus == 503, "\(String(describing: error))")
                #expect(seconds < 8, "failing must not wait for long timeouts (took \(seconds) s)")
            }
        }

        try server.start()
        var recovered = false
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if let read = try? await loop.perform({ l, d in store.document(tenantID: "faults", id: doc.id, on: l, d) }), read.id == doc.id {
                recovered = true
                break
            }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        #expect(recovered, "the pool reconnects once PostgreSQL is back, without a restart")
        let written = try await loop.perform { l, d in store.createDocument(tenantID: "faults", title: "after", body: "b", metadata: nil, on: l, d) }
        #expect(written.version == 1)
    }

    @Test("a backend that shuts down closes its pools, refuses new units, and no later backend inherits its pools")
    func shutdownClosesPools() async throws {
        let server = try PostgresServer.shared()
        let url = try PostgresServer.freshDatabase(on: server)
        let database = String(url.split(separator: "/").last!)
        let loop = Fixture.loop
        func connections() throws -> Int {
            let (_, out, _) = try run(["psql", server, "-tAc", "SELECT count(*) FROM pg_stat_activity WHERE datname = '\(database)'"])
            return Int(out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        }
        // Several backends in turn on one loop: each must use its own pool (a pool kept by
        // address once served a new backend the pool of a dead one, pointed at another server).
        for round in 0..<3 {
            let backend = try StoreConfiguration(databaseURL: url, minimumConnections: 1, maximumConnections: 2).openBackend()
            if round == 0 { try Migrator(backend: backend).migrate() }
            let store = Store(backend: backend)
            _ = try await loop.perform { l, d in store.createTenant(id: "shutdown-\(round)", name: "s", on: l, d) }
            #expect(try connections() >= 1)
            backend.shutdown()
            var left = try connections()
            let deadline = Date().addingTimeInterval(5)
            while left > 0 && Date() < deadline {
                try await Task.sleep(nanoseconds: 50_000_000)
                left = try connections()
            }
            #expect(left == 0, "round \(round): \(left) connections still open after shutdown")
            do {
                _ = try await loop.perform { l, d in store.createTenant(id: "late-\(round)", name: "s", on: l, d) }
                Issue.record("a unit ran after shutdown")
            } catch {
                #expect(error.httpStatus == 503)
            }
        }
    }

    @Test("kill -9 right after acknowledged batches: every acknowledged row is there", arguments: BackendKind.allCases)
    func killAfterAck(kind: BackendKind) async throws {
        let bench = try #require(builtExecutable("storage-bench"), "storage-bench must be built")
        let configuration: StoreConfiguration
        var arguments = ["--op", "upsert-batch", "--report-acks", "--connections", "2", "--loops", "2",
                         "--seconds", "60", "--batch", "50", "--dimension", "8"]
        switch kind {
        case .sqlite:
            configuration = StoreConfiguration(dataDirectory: NSTemporaryDirectory() + "aiwriter-kill-\(UUID().uuidString)")
            arguments += ["--data-dir", configuration.dataDirectory]
        case .postgres:
            configuration = StoreConfiguration(databaseURL: try PostgresServer.freshDatabase(on: try PostgresServer.shared()))
            arguments += ["--database-url", configuration.databaseURL!]
        }
        let child = try ChildProcess(executable: bench, arguments: arguments)
        #expect(child.waitFor("ack ", seconds: 30))
        // Let some batches be acknowledged, then kill without warning.
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline && child.stderrText.components(separatedBy: "ack ").count < 12 { usleep(20_000) }
        child.signal(SIGKILL)
        _ = child.waitForExit(seconds: 10)

        var highest: Int64 = 0
        var acknowledgedRows: Int64 = 0
        for line in child.stderrText.split(separator: "\n") where line.hasPrefix("ack ") {
            let parts = line.split(separator: " ")
            guard parts.count == 3, let sequence = Int64(parts[1]), let rows = Int64(parts[2]) else { continue }
            highest = max(highest, sequence)
            acknowledgedRows += rows
        }
        #expect(acknowledgedRows >= 500)

        let backend = try configuration.openBackend()
        defer { backend.shutdown() }
        let acknowledged = highest
        let rows = try backend.withSession { session throws(StoreError) in
            try session.rows("""
                SELECT (SELECT count(*) FROM records r JOIN collections c ON c.id = r.collection_id WHERE c.name = 'bench-8'),
                       (SELECT count(*) FROM changes ch JOIN collections c ON c.id = ch.collection_id WHERE c.name = 'bench-8' AND ch.seq <= \(acknowledged)),
                       (SELECT last_seq FROM collections WHERE name = 'bench-8')
                """)
        }
        let row = try #require(rows.first)
        #expect(row[0].int.map { $0 >= acknowledgedRows } == true, "records: \(row[0]) acknowledged: \(acknowledgedRows)")
        #expect(row[1].int == highest, "every change up to the last acknowledged sequence \(highest) is durable")
        #expect(row[2].int.map { $0 >= highest } == true)
    }
}
