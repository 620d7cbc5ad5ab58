// swift-tools-version:6.1
import PackageDescription
import class Foundation.ProcessInfo

// glibc's malloc by default: Benchmarks/RESULTS.md shows jemalloc no faster on the request path
// (which barely allocates). `AIWRITER_MALLOC=jemalloc swift build` links jemalloc as the process
// allocator, for workloads where the comparison comes out the other way.
let useJemalloc = ProcessInfo.processInfo.environment["AIWRITER_MALLOC"] == "jemalloc"
let allocatorDependencies: [Target.Dependency] = useJemalloc ? ["CJemalloc"] : []
let allocatorSettings: [SwiftSetting] = useJemalloc ? [.define("AIWRITER_JEMALLOC")] : []

// Dynamic exclusivity checks cost about 5% of a request's CPU on the loops (swift_beginAccess
// and its thread-local lookups in the profile); debug builds, and so the tests, keep them.
let hotPathSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "aiwriter",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "aiwriter", targets: ["aiwriter"]),
        .executable(name: "loadtest", targets: ["loadtest"]),
        .library(name: "Net", targets: ["Net"]),
        .library(name: "Gateway", targets: ["Gateway"]),
        .library(name: "VectorIndex", targets: ["VectorIndex"]),
        .library(name: "Storage", targets: ["Storage"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    ],
    targets: [
        // System-library shims: one per C library, nothing else lives in them.
        .systemLibrary(name: "CUV", pkgConfig: "libuv"),
        .systemLibrary(name: "CHTTPParser"),
        .systemLibrary(name: "CJemalloc", pkgConfig: "jemalloc"),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl"),
        .systemLibrary(name: "CPostgres", pkgConfig: "libpq"),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3"),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis"),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib"),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl"),

        // The event-loop core shared by the server and the load generator.
        .target(
            name: "Net",
            dependencies: ["CUV", "CHTTPParser", "COpenSSL"],
            swiftSettings: hotPathSettings
        ),
        // Distance kernels for several instruction sets, chosen at run time, and the atomics
        // and spin locks the graph needs on raw memory.
        .target(
            name: "VectorKernels",
            path: "Sources/VectorKernels",
            cSettings: [.unsafeFlags(["-O3"])]
        ),
        // HNSW vector search: no HTTP, no SQL, no I/O beyond its own snapshot files.
        .target(
            name: "VectorIndex",
            dependencies: ["VectorKernels"],
            // Optimised in debug builds too: unoptimised, a graph insert is ~100x slower, and the
            // tests that wait for background linking would measure the compiler, not the code.
            swiftSettings: hotPathSettings + [.unsafeFlags(["-O"], .when(configuration: .debug))]
        ),
        // `ann-bench`: recall and QPS on texmex-format data sets (Benchmarks/compare/ann.sh).
        .executableTarget(
            name: "ann-bench",
            dependencies: ["VectorIndex", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/ann-bench",
            swiftSettings: hotPathSettings
        ),
        // Storage: one schema on SQLite (embedded) and PostgreSQL (async libpq pools),
        // migrations, backups.
        .target(
            name: "Storage",
            dependencies: ["Net", "CUV", "CPostgres", "CSQLite", "CHiredis", .product(name: "DequeModule", package: "swift-collections")],
            swiftSettings: hotPathSettings
        ),
        // `storage-bench`: Store throughput beside pgbench (Benchmarks/compare/storage.sh).
        .executableTarget(
            name: "storage-bench",
            dependencies: ["Storage", "Net", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/storage-bench",
            swiftSettings: hotPathSettings
        ),
        // HTTP calls to upstreams from a loop: libcurl's multi interface on the loop's own
        // watchers and timers (no thread per call).
        .target(
            name: "UpstreamClient",
            dependencies: ["Net", "CCurl"],
            swiftSettings: hotPathSettings
        ),
        // The server: routing, errors, metrics, lifecycle, configuration.
        .target(
            name: "Gateway",
            dependencies: [
                "Net",
                "Storage",
                "VectorIndex",
                "UpstreamClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: hotPathSettings
        ),
        // The command line.
        .executableTarget(
            name: "aiwriter",
            dependencies: [
                "Gateway",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ] + allocatorDependencies,
            swiftSettings: allocatorSettings
        ),

        // The load generator: its engine (library, so tests reach it) and its command line.
        .target(
            name: "LoadTestKit",
            dependencies: [
                "Net", "CUV", "CZlib",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Yams", package: "Yams"),
            ],
            path: "loadtest/LoadTestKit",
            swiftSettings: hotPathSettings
        ),
        .executableTarget(
            name: "loadtest",
            dependencies: ["LoadTestKit", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "loadtest/CLI"
        ),

        // Sockets, servers and child processes for the test targets.
        .target(name: "TestSupport", dependencies: ["Net"], path: "Tests/TestSupport"),
        .testTarget(name: "NetTests", dependencies: ["Net", "TestSupport"]),
        .testTarget(name: "GatewayTests", dependencies: ["Gateway", "Net", "Storage", "TestSupport"]),
        .testTarget(name: "LoadTestTests", dependencies: ["LoadTestKit", "Net", "CZlib", "TestSupport", .product(name: "Histogram", package: "hdrhistogram-swift")]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "Net", "TestSupport"]),
        .testTarget(name: "VectorIndexTests", dependencies: ["VectorIndex", "VectorKernels", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
