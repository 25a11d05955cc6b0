// swift-tools-version:6.1
import PackageDescription

// The core of Spoor: libspoor.so, the C ABI of include/spoor.h implemented in Swift
// (SpoorRuntime), linked with a SONAME, a version script that exports only spoor_* symbols, and
// -z nodelete (dlclose of a Swift image followed by Swift code elsewhere is unsafe); the log
// format (SpoorLog), lineage reconstruction from logs (SpoorLineage) and the `spoor` CLI.
//
// Every binding reaches the runtime only through libspoor.so: the Swift binding
// (bindings/swift, `import Spoor`) is a package of its own that depends on the `spoor` dynamic
// library product and the `SpoorABI` header module, so its programs link libspoor.so
// dynamically instead of carrying a copy of the runtime.
//
// The SONAME is libspoor.so.0 for the library scripts/build ships (it sets SPOOR_SONAME), and
// libspoor.so inside a SwiftPM build folder, where no libspoor.so.0 link exists for programs
// built there (the Swift binding's tests and examples) to find at run time.
let soname = Context.environment["SPOOR_SONAME"] ?? "libspoor.so"
let libraryLinkerFlags: [String] = [
    "-Xlinker", "-soname=\(soname)",
    "-Xlinker", "--version-script=\(Context.packageDirectory)/Sources/SpoorLibrary/exports.map",
    "-Xlinker", "-z", "-Xlinker", "nodelete",
]

let package = Package(
    name: "spoor",
    products: [
        .library(name: "spoor", type: .dynamic, targets: ["SpoorLibrary"]),
        /// The public C header (include/spoor.h) as a module, for bindings written in Swift.
        .library(name: "SpoorABI", targets: ["SpoorABI"]),
        .library(name: "SpoorLog", targets: ["SpoorLog"]),
        .library(name: "SpoorLineage", targets: ["SpoorLineage"]),
        // Installed as `spoor` by scripts/build (a product may not share the library's name).
        .executable(name: "spoor-cli", targets: ["SpoorCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // The contract: include/spoor.h, and nothing else.
        .target(name: "SpoorABI", path: "Sources/SpoorABI"),
        // Private C helpers of the core: shared-memory and report layouts, atomics, CRC-32C,
        // system calls Swift does not import.
        .target(name: "CSpoor", dependencies: ["SpoorABI"], path: "Sources/CSpoor"),
        // The runtime's process-wide and thread-local state (what the header's inline fast paths
        // read): linked into libspoor.so only, never into a log reader or a binding.
        .target(name: "CSpoorState", dependencies: ["CSpoor"], path: "Sources/CSpoorState"),
        // Helpers of the core's Swift modules: one home for locks, threads, errno, hex.
        .target(name: "SpoorSupport", dependencies: ["CSpoor"]),
        .target(name: "SpoorLog", dependencies: ["CSpoor", "SpoorSupport"]),
        // Hybrid partitioners (heavy keys placed, the rest hashed) compiled into flat tables, and
        // the decoder of their JSON files: what spoor_partitioner_* in libspoor.so run.
        .target(name: "SpoorPartitioning", dependencies: ["SpoorSupport"]),
        .target(name: "SpoorRuntime", dependencies: ["SpoorABI", "CSpoor", "CSpoorState", "SpoorLog", "SpoorSupport", "SpoorPartitioning"]),
        .target(
            name: "SpoorLibrary",
            dependencies: ["SpoorRuntime"],
            exclude: ["exports.map"],
            linkerSettings: [.unsafeFlags(libraryLinkerFlags)]
        ),
        .executableTarget(
            name: "SpoorCLI",
            dependencies: [
                "SpoorLog", "SpoorRuntime", "SpoorSupport", "SpoorReconstruction", "SpoorLineage", "SpoorSkew", "SpoorPartitioning",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // jemalloc for the standalone executable only, never inside libspoor.so; and not in a
            // sanitizer build (SPOOR_NO_JEMALLOC), where the sanitizer's allocator must own every
            // allocation (the CLI tests link this target).
            linkerSettings: Context.environment["SPOOR_NO_JEMALLOC"] == nil ? [.linkedLibrary("jemalloc")] : []
        ),
        .target(name: "SpoorLineage", dependencies: ["CSpoor", "SpoorLog", "SpoorSupport"]),
        // Streaming trace reconstruction, signatures, representative flows and anomalies, and the
        // readers of X-Trace, TraceBench and Spoor's own reports.
        .target(name: "SpoorReconstruction", dependencies: ["SpoorLog", "SpoorSupport"]),
        // Skew: heavy-hitter sketches of operators' keys, and hybrid partitioners built from them.
        .target(name: "SpoorSkew", dependencies: ["SpoorLog", "SpoorSupport", "SpoorPartitioning"]),
        .executableTarget(name: "SpoorTestChild", dependencies: ["SpoorRuntime", "CSpoor"], path: "Tests/SpoorTestChild"),
        .testTarget(name: "SpoorLogTests", dependencies: ["SpoorLog", "CSpoor"]),
        .testTarget(name: "SpoorSkewTests", dependencies: ["SpoorSkew", "SpoorPartitioning", "SpoorLog", "SpoorSupport"]),
        .testTarget(name: "SpoorReconstructionTests", dependencies: ["SpoorReconstruction", "SpoorLog", "SpoorSupport"]),
        // Runs the built `spoor-cli` executable (the dependency makes the test build it).
        .testTarget(name: "SpoorCLITests", dependencies: ["SpoorCLI", "SpoorLog", "SpoorLineage", "SpoorSupport", "CSpoor"]),
        .testTarget(name: "SpoorRuntimeTests", dependencies: ["SpoorRuntime", "SpoorLog", "SpoorSupport", "CSpoor", "SpoorTestChild"]),
    ]
)
