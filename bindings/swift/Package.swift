// swift-tools-version:6.1
import PackageDescription

// The Swift binding of Spoor: `import Spoor` (traced records, lifts, folds, AsyncSequence
// operators) and `import SpoorDataflow` (the parallel dataflow engine).
//
// It is a thin skin over the one contract, include/spoor.h: it imports the header as the
// `SpoorABI` module and links the `spoor` dynamic library product, so every program built from
// this package (its tests, the word-count example, the Figure 4 benchmark) calls the runtime in
// libspoor.so and carries no copy of it. `ldd` on any of them shows libspoor.so.
let package = Package(
    name: "spoor-swift",
    products: [
        .library(name: "Spoor", targets: ["Spoor"]),
        .library(name: "SpoorDataflow", targets: ["SpoorDataflow"]),
        .executable(name: "WordCount", targets: ["WordCount"]),
        .executable(name: "SpoorFigure4", targets: ["SpoorFigure4"]),
    ],
    dependencies: [
        .package(name: "spoor", path: "../.."),
    ],
    targets: [
        // CPU hints (pause, prefetch); no runtime code.
        .target(name: "CSpoorSupport"),
        .target(
            name: "Spoor",
            dependencies: [
                "CSpoorSupport",
                .product(name: "SpoorABI", package: "spoor"),
                .product(name: "spoor", package: "spoor"),
            ]),
        .target(name: "SpoorDataflow", dependencies: ["Spoor"]),
        .executableTarget(name: "WordCount", dependencies: ["Spoor", "SpoorDataflow"], path: "Examples/WordCount"),
        .executableTarget(name: "SpoorFigure4", dependencies: ["Spoor", "SpoorDataflow"], path: "Benchmarks/Figure4"),
        .executableTarget(name: "SpoorKeyProbe", dependencies: ["Spoor"], path: "Tests/SpoorKeyProbe"),
        .testTarget(
            name: "SpoorDataflowTests",
            dependencies: [
                "Spoor", "SpoorDataflow", "SpoorKeyProbe",
                .product(name: "SpoorLineage", package: "spoor"),
                .product(name: "SpoorLog", package: "spoor"),
            ]),
    ]
)
