// swift-tools-version:6.1
import PackageDescription

// libspoor.so: the C ABI in include/spoor.h, implemented in Swift (SpoorRuntime) and linked with
// a SONAME, a version script that exports only spoor_* symbols, and -z nodelete (dlclose of a
// Swift image followed by Swift code elsewhere is unsafe).
let libraryLinkerFlags: [String] = [
    "-Xlinker", "-soname=libspoor.so.0",
    "-Xlinker", "--version-script=\(Context.packageDirectory)/Sources/SpoorLibrary/exports.map",
    "-Xlinker", "-z", "-Xlinker", "nodelete",
]

let package = Package(
    name: "spoor",
    products: [
        .library(name: "spoor", type: .dynamic, targets: ["SpoorLibrary"]),
        .library(name: "Spoor", targets: ["Spoor"]),
        .library(name: "SpoorDataflow", targets: ["SpoorDataflow"]),
        .library(name: "SpoorLineage", targets: ["SpoorLineage"]),
        // Installed as `spoor` by scripts/setup (a product may not share the library's name).
        .executable(name: "spoor-cli", targets: ["SpoorCLI"]),
        .executable(name: "WordCount", targets: ["WordCount"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .target(name: "CSpoor", path: "Sources/CSpoor"),
        .target(name: "SpoorLog", dependencies: ["CSpoor"]),
        .target(name: "SpoorRuntime", dependencies: ["CSpoor", "SpoorLog"]),
        .target(
            name: "SpoorLibrary",
            dependencies: ["SpoorRuntime"],
            exclude: ["exports.map"],
            linkerSettings: [.unsafeFlags(libraryLinkerFlags)]
        ),
        .executableTarget(
            name: "SpoorCLI",
            dependencies: [
                "SpoorLog", "SpoorRuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // jemalloc for the standalone executable only, never inside libspoor.so.
            linkerSettings: [.linkedLibrary("jemalloc")]
        ),
        .target(name: "Spoor", dependencies: ["CSpoor", "SpoorRuntime"]),
        .target(name: "SpoorDataflow", dependencies: ["Spoor"]),
        .target(name: "SpoorLineage", dependencies: ["SpoorLog"]),
        .executableTarget(name: "WordCount", dependencies: ["Spoor", "SpoorDataflow"], path: "examples/swift/WordCount"),
        .executableTarget(name: "SpoorFigure4", dependencies: ["Spoor", "SpoorDataflow"], path: "bench/figure4"),
        .executableTarget(name: "SpoorTestChild", dependencies: ["SpoorRuntime", "CSpoor"], path: "Tests/SpoorTestChild"),
        .testTarget(name: "SpoorDataflowTests", dependencies: ["Spoor", "SpoorDataflow", "SpoorLineage", "SpoorLog"]),
        .testTarget(name: "SpoorLogTests", dependencies: ["SpoorLog", "CSpoor"]),
        // Runs the built `spoor-cli` executable (the dependency makes the test build it).
        .testTarget(name: "SpoorCLITests", dependencies: ["SpoorCLI", "SpoorLog", "SpoorLineage", "CSpoor"]),
        .testTarget(name: "SpoorRuntimeTests", dependencies: ["SpoorRuntime", "SpoorLog", "CSpoor", "SpoorTestChild"]),
    ]
)
