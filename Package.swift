// swift-tools-version: 6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .treatAllWarnings(as: .error),
    // Release builds access concrete generic type metadata through accessors that pass the conformances along,
    // instead of by mangled name: a mangled name makes the runtime look up each conformance the type needs (for
    // example `CodingKeys: CodingKey` for every Codable type) by scanning all 11,700 conformance records in the
    // executable, once per type and process (issue 10's step budget: about 130 such scans per write-erp-invoice run).
    .unsafeFlags(
        ["-Xfrontend", "-disable-concrete-type-metadata-mangled-name-accessors"], .when(configuration: .release)),
]

/// Step executables start once per event, so their start is paid per record: release builds link the Swift runtime
/// and Foundation into each of them statically (measured by `make bench`'s step budget, issue 10: about 4 ms of CPU
/// and 4 MiB less per process than binding two dozen shared objects at each start). The price is size: each step
/// carries its own copy of Foundation's ICU data (about 50 MB before compression). `MLC_DYNAMIC_STEPS=1 swift build
/// -c release` links them against the shared runtime instead (smaller image layers, slower starts). Debug builds
/// (the tests) stay dynamic, which links faster. The driver's autolinking names Foundation's own archives but not
/// the ones they depend on (CoreFoundation, ICU, collections, C shims), so they are named here, in one group.
///
/// Two more start costs are removed from static steps (measured on the malformed-event path: 10.2 → 5.1 ms of CPU,
/// 950 → 500 page faults, 25.9 → 18.9 MiB peak RSS):
/// - `--no-export-dynamic`: the static runtime's link arguments export every symbol of our own code (about 55,000);
///   the runtime's crash-handler set-up then calls `dladdr`, which walks that whole table at every start.
/// - A position-dependent executable (`-no-pie`): a position-independent one of this size carries about 143,000
///   relative relocations that the loader applies at every start, reading 3.4 MB of relocation records and copying
///   every page they touch. The trade-off: the executable's own code and data sit at a fixed address (shared
///   libraries, heap and stack are still randomised). `MLC_PIE_STEPS=1` keeps steps position-independent.
let staticSteps = Context.environment["MLC_DYNAMIC_STEPS"].map { $0.isEmpty || $0 == "0" } ?? true
let pieSteps = Context.environment["MLC_PIE_STEPS"].map { !($0.isEmpty || $0 == "0") } ?? false
let foundationArchives = [
    "Foundation", "FoundationEssentials", "FoundationInternationalization", "CoreFoundation", "_FoundationICU",
    "_FoundationCollections", "_FoundationCShims", "swiftSynchronization",
]
/// Static steps are linked with lld in the order of `link/steps.order`: the functions the steps ran when profiled
/// (`link/profile-steps.sh`), most shared first, so the code a step runs sits together instead of spread over 34 MB of
/// text. The kernel maps file pages 64 KiB around each fault, so scattered code cost a step about 18 MB of resident
/// text; ordered, the write step's ok path went from 30.4 to 24.0 MiB peak RSS in paired runs of `make bench`'s step
/// budget (link/README.md). A function missing from the list (new code) is laid out after the
/// listed ones, so a stale list costs speed, never correctness. `MLC_STEP_ORDER=0` links with the toolchain's default
/// linker in the default order.
///
/// The same linker takes SQLite, hiredis, zlib and libstdc++ from their static archives (`link/lld-static-libs`, a
/// wrapper around lld): a short process pays for every shared library at each start (mapping, relocation, symbol
/// lookups), and only libc, libm and libgcc_s stay shared. Where an archive is missing it links the shared one.
let orderedSteps = Context.environment["MLC_STEP_ORDER"].map { !($0 == "0") } ?? true
let orderingFlags: [String] =
    orderedSteps
    ? [
        "-use-ld=\(Context.packageDirectory)/link/lld-static-libs",
        "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/link/steps.order",
        "-Xlinker", "--no-warn-symbol-ordering",
    ] : []
let stepLinkerSettings: [LinkerSetting] =
    staticSteps
    ? [
        .unsafeFlags(
            ["-static-stdlib", "-Xlinker", "--start-group"]
                + foundationArchives.flatMap { ["-Xlinker", "-l\($0)"] } + ["-Xlinker", "--end-group"]
                + ["-Xlinker", "--no-export-dynamic"] + (pieSteps ? [] : ["-Xclang-linker", "-no-pie"])
                + orderingFlags,
            .when(configuration: .release))
    ] : []

let log = Target.Dependency.product(name: "Logging", package: "swift-log")
let ahc = Target.Dependency.product(name: "AsyncHTTPClient", package: "async-http-client")
let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let nioHTTP1 = Target.Dependency.product(name: "NIOHTTP1", package: "swift-nio")
let nioSSL = Target.Dependency.product(name: "NIOSSL", package: "swift-nio-ssl")
let crypto = Target.Dependency.product(name: "Crypto", package: "swift-crypto")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let yams = Target.Dependency.product(name: "Yams", package: "Yams")
let hummingbird = Target.Dependency.product(name: "Hummingbird", package: "hummingbird")
let serviceLifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let httpTypes = Target.Dependency.product(name: "HTTPTypes", package: "swift-http-types")
let postgresNIO = Target.Dependency.product(name: "PostgresNIO", package: "postgres-nio")

/// One executable per flow step; `functions/<name>/main.swift` only wires the handler.
let functions = [
    "poll-jaggaer-invoices",
    "transform-invoice",
    "write-erp-invoice",
    "sync-vendors",
    "sync-accounts",
    "handle-erp-notification",
    "renew-bc-subscription",
    "ping-connection",
    "sync-purchase-orders",
    "post-erp-invoice",
    "sync-payment-status",
    "push-purchase-orders",
]

/// The ERPs of this build: one target each (`Sources/<name>`), listed once more in ConnectorRuntime/Systems.swift.
let erps = [
    "BusinessCentral",
    "Acumatica",
    "SAPBusinessOne",
    "DynamicsNAV",
    "FinanceOperations",
]

let package = Package(
    name: "ml-connector",
    platforms: [.macOS(.v15)],
    products: functions.map { .executable(name: $0, targets: [$0]) } + [
        .executable(name: "local-runner", targets: ["local-runner"]),
        .executable(name: "mlc-simulators", targets: ["mlc-simulators"]),
        .executable(name: "mlc-http-adapter", targets: ["mlc-http-adapter"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // Already in the graph through AsyncHTTPClient; named to trust a customer's CA for on-premises servers.
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // Already in the graph through Hummingbird; named for the servers' graceful shutdown.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // Already in the graph through Hummingbird; named for the Knative adapter's response headers.
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        // The runner's metrics: recorded through swift-metrics (already in the graph through Hummingbird), served
        // in Prometheus' text format.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        .target(name: "ConnectorCore", dependencies: [log], swiftSettings: swiftSettings),
        // SQLite's C API, from Debian's libsqlite3-dev (statically linked into release steps: link/lld-static-libs).
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .target(
            name: "ConnectorStateSQLite", dependencies: ["ConnectorCore", "CSQLite"],
            swiftSettings: swiftSettings),
        // Redis through Debian's C client (no Swift Redis client in the package mirror).
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .target(
            name: "ConnectorStateRedis", dependencies: ["ConnectorCore", "CHiredis"], swiftSettings: swiftSettings),
        .target(
            name: "ConnectorStatePostgres", dependencies: ["ConnectorCore", postgresNIO, nioCore, nioSSL, log],
            swiftSettings: swiftSettings),
        .target(name: "ConnectorSecurity", dependencies: ["ConnectorCore", crypto], swiftSettings: swiftSettings),
        .target(
            name: "ConnectorHTTP",
            dependencies: ["ConnectorCore", "ConnectorSecurity", ahc, nioCore, nioHTTP1, nioSSL, log],
            swiftSettings: swiftSettings
        ),
        .target(name: "OData", dependencies: ["ConnectorCore", "ConnectorHTTP"], swiftSettings: swiftSettings),
        .target(name: "Jaggaer", dependencies: ["ConnectorCore", "ConnectorHTTP"], swiftSettings: swiftSettings),
    ]
        // One target per ERP, holding everything about it; the registry (ConnectorRuntime/Systems.swift) lists them.
        + erps.map { name in
            .target(
                name: name, dependencies: ["ConnectorCore", "ConnectorHTTP", "ConnectorSecurity", "OData", log],
                swiftSettings: swiftSettings)
        } + [
            .target(
                name: "ConnectorFlows",
                // The steps see protocols only: no ERP target, no procurement target.
                dependencies: ["ConnectorCore", "ConnectorSecurity", "ConnectorHTTP", log],
                swiftSettings: swiftSettings
            ),
            .target(
                name: "ConnectorRuntime",
                dependencies: [
                    "ConnectorCore", "ConnectorSecurity", "ConnectorHTTP", "ConnectorFlows", "ConnectorStateSQLite",
                    "ConnectorStateRedis", "ConnectorStatePostgres", log,
                    // The systems, listed once in Systems.swift.
                    "Jaggaer",
                ] + erps.map { .target(name: $0) },
                swiftSettings: swiftSettings
            ),
            .target(
                name: "ConnectorRunner",
                // The runner's engine, shared by local-runner and the platform adapters: routing from the function
                // manifests, the queue loop with workers and claims, step invocation, the webhook gateway, metrics.
                // Its HTTP servers keep it out of the step executables, which link ConnectorRuntime only.
                dependencies: [
                    "ConnectorCore", "ConnectorRuntime", "ConnectorFlows", hummingbird, serviceLifecycle, nioCore, log,
                    .product(name: "Metrics", package: "swift-metrics"),
                    .product(name: "Prometheus", package: "swift-prometheus"),
                ],
                swiftSettings: swiftSettings,
                // The routing table is compiled from functions/*/function.json: one source of truth, nothing to ship.
                plugins: ["FunctionManifests"]
            ),
            .target(
                name: "ConnectorSimulators",
                // AsyncHTTPClient only to call subscribers back (BC webhook handshakes and notifications).
                dependencies: [hummingbird, serviceLifecycle, ahc, nioCore, nioHTTP1, log],
                swiftSettings: swiftSettings
            ),
            .target(
                name: "ConnectorConfig",
                // Reads connection files written by people (YAML or JSON); only the operator's tools link it.
                dependencies: ["ConnectorCore", yams],
                swiftSettings: swiftSettings
            ),
            .target(
                name: "ConnectorTesting",
                dependencies: ["ConnectorCore", "ConnectorTestServers"],
                swiftSettings: swiftSettings
            ),
            // Private redis-server and PostgreSQL processes on loopback: for the suites and `local-runner bench`.
            .target(name: "ConnectorTestServers", dependencies: ["ConnectorCore"], swiftSettings: swiftSettings),
            .executableTarget(
                name: "local-runner",
                dependencies: [
                    "ConnectorCore", "ConnectorSecurity", "ConnectorHTTP", "ConnectorFlows", "ConnectorRuntime",
                    "ConnectorRunner", "ConnectorStateSQLite", "ConnectorStatePostgres", "ConnectorSimulators",
                    "ConnectorConfig", "ConnectorTestServers", "KnativeAdapter", argumentParser, yams, log, hummingbird,
                    serviceLifecycle,
                    nioCore,
                ] + erps.map { .target(name: $0) },
                path: "local-runner",
                swiftSettings: swiftSettings
            ),
            .executableTarget(
                name: "FunctionManifestCodegen", path: "Plugins/FunctionManifestCodegen", swiftSettings: swiftSettings),
            .plugin(
                name: "FunctionManifests", capability: .buildTool(), dependencies: ["FunctionManifestCodegen"],
                path: "Plugins/FunctionManifests"),
            .target(
                name: "KnativeAdapter",
                // The HTTP fronts of a step: Knative Eventing (CloudEvents over HTTP in, the step's result out), its
                // dead-letter sink, and the Fission environment runtime.
                dependencies: [
                    "ConnectorCore", "ConnectorRunner", "ConnectorHTTP", hummingbird, httpTypes, serviceLifecycle,
                    nioCore,
                    log,
                ],
                swiftSettings: swiftSettings
            ),
            .executableTarget(
                name: "mlc-http-adapter",
                dependencies: [
                    "KnativeAdapter", "ConnectorCore", "ConnectorRuntime", "ConnectorHTTP", "ConnectorRunner",
                    argumentParser,
                    serviceLifecycle, .product(name: "UnixSignals", package: "swift-service-lifecycle"), log,
                ],
                swiftSettings: swiftSettings
            ),
            // Test support: a second OS process on a store (StoreProcessesTests); not a product, not in the image.
            .executableTarget(
                name: "mlc-store-probe", dependencies: ["ConnectorCore", "ConnectorRuntime"],
                swiftSettings: swiftSettings),
            .executableTarget(
                name: "mlc-simulators",
                dependencies: ["ConnectorSimulators", argumentParser, log],
                swiftSettings: swiftSettings
            ),
            .testTarget(
                name: "ConnectorCoreTests", dependencies: ["ConnectorCore", "ConnectorTesting"],
                swiftSettings: swiftSettings),
            .testTarget(
                name: "ConnectorConfigTests",
                dependencies: [
                    "ConnectorCore", "ConnectorConfig", "ConnectorSecurity", "ConnectorTesting", "ConnectorRuntime",
                ] + erps.map { .target(name: $0) },
                swiftSettings: swiftSettings
            ),
            .testTarget(
                name: "ConnectorStateTests",
                dependencies: [
                    "ConnectorCore", "ConnectorStateSQLite", "ConnectorStateRedis", "ConnectorStatePostgres",
                    "ConnectorTesting",
                ],
                swiftSettings: swiftSettings
            ),
            .testTarget(
                name: "ConnectorSecurityTests",
                dependencies: ["ConnectorCore", "ConnectorSecurity", "ConnectorTesting", "ConnectorRuntime"]
                    + erps.map { .target(name: $0) },
                swiftSettings: swiftSettings),
            .testTarget(
                name: "ConnectorHTTPTests",
                dependencies: [
                    "ConnectorCore", "ConnectorHTTP", "ConnectorSecurity", "ConnectorTesting", "ConnectorSimulators",
                    hummingbird, nioCore, nioHTTP1, nioSSL, .product(name: "NIOPosix", package: "swift-nio"),
                ],
                swiftSettings: swiftSettings
            ),
            .testTarget(
                name: "ODataTests",
                dependencies: ["OData", "ConnectorCore", "ConnectorHTTP", "ConnectorSimulators"],
                swiftSettings: swiftSettings
            ),
            .testTarget(
                name: "ClientTests",
                dependencies: [
                    "ConnectorCore", "ConnectorHTTP", "Jaggaer", "ConnectorSimulators", "ConnectorTesting",
                    "ConnectorSecurity", "ConnectorFlows", "ConnectorRuntime",
                ] + erps.map { .target(name: $0) },
                resources: [.copy("Fixtures")],
                swiftSettings: swiftSettings
            ),
            .testTarget(
                name: "ConnectorFlowsTests",
                dependencies: [
                    "ConnectorCore", "ConnectorFlows", "ConnectorHTTP", "ConnectorSecurity", "Jaggaer",
                    "ConnectorSimulators", "ConnectorTesting", "ConnectorRuntime",
                ] + erps.map { .target(name: $0) },
                swiftSettings: swiftSettings
            ),
            .testTarget(
                name: "DecoderFuzzTests",
                dependencies: [
                    "ConnectorCore", "ConnectorHTTP", "ConnectorFlows", "Jaggaer", "ConnectorRuntime", log,
                    .product(name: "PropertyBased", package: "swift-property-based"),
                ] + erps.map { .target(name: $0) },
                exclude: ["invoice_sample.json"],
                swiftSettings: swiftSettings
            ),
            .testTarget(
                name: "ConnectorRunnerTests",
                dependencies: ["ConnectorRunner", "ConnectorCore", "ConnectorTesting", log],
                swiftSettings: swiftSettings),
            .testTarget(
                name: "ConnectorSimulatorsTests",
                dependencies: ["ConnectorSimulators", hummingbird, serviceLifecycle, nioCore, log],
                swiftSettings: swiftSettings),
            .testTarget(
                name: "EndToEndTests",
                dependencies: [
                    "ConnectorCore", "ConnectorSecurity", "ConnectorStateSQLite", "ConnectorStatePostgres",
                    "ConnectorRuntime", "ConnectorSimulators",
                    "ConnectorTesting", "ConnectorHTTP", "ConnectorConfig", "ConnectorRunner", "KnativeAdapter", yams,
                    "local-runner", "mlc-simulators", "mlc-http-adapter", "mlc-store-probe",
                ] + erps.map { .target(name: $0) }
                    + functions.map { .target(name: $0) },
                swiftSettings: swiftSettings
            ),
        ]
        + functions.map { name in
            .executableTarget(
                name: name,
                dependencies: ["ConnectorRuntime", "ConnectorFlows"],
                path: "functions/\(name)",
                exclude: ["function.json"],
                swiftSettings: swiftSettings,
                linkerSettings: stepLinkerSettings
            )
        }
)
