// swift-tools-version: 6.0
import PackageDescription

// Release builds target x86-64-v3 (AVX2 + FMA), which every machine of this project has.
// Debug builds (what `swift test` compiles) still optimise the library modules with -O, which
// keeps every precondition and overflow check, for the same CPU: unoptimised SIMD kernels, or
// SIMD fused multiply-adds without FMA instructions (one libm call per lane), are 20-100x
// slower, and the tests on the real model would not fit the suite's time budget.
let optimized: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-wmo", "-target-cpu", "haswell"], .when(configuration: .release)),
    .unsafeFlags(["-O", "-target-cpu", "haswell"], .when(configuration: .debug)),
]

let package = Package(
    name: "Fledge",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "fledge", targets: ["fledge"]),
        .library(name: "FledgeNN", targets: ["FledgeNN"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // AVX-512 kernels (per-function target attributes, chosen with cpuid) and oneDNN's bf16
        // matmul (loaded with dlopen, so machines without libdnnl still build and run).
        .target(
            name: "CFledgeKernels",
            cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off"])],
            linkerSettings: [.linkedLibrary("dl"), .linkedLibrary("pthread")]
        ),
        .target(name: "FledgeTensor", dependencies: ["COpenBLAS", "CFledgeKernels"], swiftSettings: optimized),
        .target(name: "FledgeNN", dependencies: ["FledgeTensor", "CFledgeKernels"], swiftSettings: optimized),
        .target(name: "FledgeWeights", dependencies: ["FledgeTensor"], swiftSettings: optimized),
        .target(name: "FledgeTokenizer", swiftSettings: optimized),
        .target(name: "FledgeTemplate", swiftSettings: optimized),
        .target(name: "FledgeDistributed", swiftSettings: optimized),
        .target(
            name: "FledgeLlama",
            dependencies: ["FledgeTensor", "FledgeNN", "FledgeWeights", "FledgeTokenizer", "FledgeTemplate"],
            swiftSettings: optimized
        ),
        .target(
            name: "FledgeData",
            dependencies: ["FledgeTensor", "FledgeWeights", "FledgeTokenizer", "FledgeTemplate", "FledgeLlama"],
            swiftSettings: optimized
        ),
        .target(
            name: "FledgeDraft",
            dependencies: ["FledgeTensor", "FledgeNN", "FledgeWeights", "FledgeData", "FledgeLlama"],
            swiftSettings: optimized
        ),
        .target(
            name: "FledgeTraining",
            dependencies: [
                "FledgeTensor", "FledgeNN", "FledgeWeights", "FledgeData", "FledgeLlama", "FledgeDraft",
                "FledgeDistributed",
            ],
            swiftSettings: optimized
        ),
        .target(
            name: "FledgeSpeculative",
            dependencies: ["FledgeTensor", "FledgeNN", "FledgeTemplate", "FledgeLlama", "FledgeDraft"],
            swiftSettings: optimized
        ),
        .target(
            name: "FledgeBench",
            dependencies: [
                "FledgeTensor", "FledgeNN", "FledgeLlama", "FledgeData", "FledgeDraft", "FledgeDistributed",
            ],
            swiftSettings: optimized
        ),
        .target(
            name: "FledgeCLI",
            dependencies: [
                "FledgeTensor", "FledgeWeights", "FledgeTokenizer", "FledgeTemplate", "FledgeLlama", "FledgeData",
                "FledgeDraft", "FledgeTraining", "FledgeSpeculative", "FledgeDistributed", "FledgeBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: optimized
        ),
        .executableTarget(name: "fledge", dependencies: ["FledgeCLI"]),
        .target(name: "FledgeTestSupport", dependencies: ["FledgeTensor"]),
        .testTarget(name: "FledgeTensorTests", dependencies: ["FledgeTensor"]),
        .testTarget(
            name: "FledgeNNTests",
            dependencies: ["FledgeNN", "FledgeTensor", "FledgeTestSupport", "CFledgeKernels"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "FledgeDistributedTests", dependencies: ["FledgeDistributed"]),
        .testTarget(
            name: "FledgeBenchTests",
            dependencies: [
                "FledgeBench", "FledgeDistributed", "FledgeDraft", "FledgeLlama", "FledgeTensor", "FledgeTestSupport",
            ]
        ),
        .testTarget(
            name: "FledgeCLITests",
            dependencies: [
                "FledgeCLI", "FledgeData", "FledgeSpeculative", "FledgeDraft", "FledgeTraining", "FledgeTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "FledgeWeightsTests",
            dependencies: ["FledgeWeights", "FledgeTensor", "FledgeTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "FledgeTokenizerTests",
            dependencies: ["FledgeTokenizer", "FledgeTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "FledgeTemplateTests",
            dependencies: ["FledgeTemplate", "FledgeTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "FledgeDataTests",
            dependencies: [
                "FledgeData", "FledgeLlama", "FledgeTokenizer", "FledgeTemplate", "FledgeWeights", "FledgeTensor",
                "FledgeTestSupport",
            ],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "FledgeDraftTests",
            dependencies: ["FledgeDraft", "FledgeNN", "FledgeWeights", "FledgeTensor", "FledgeTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "FledgeTrainingTests",
            dependencies: ["FledgeTraining", "FledgeDraft", "FledgeData", "FledgeLlama", "FledgeTensor"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "FledgeSpeculativeTests",
            dependencies: [
                "FledgeSpeculative", "FledgeDraft", "FledgeLlama", "FledgeNN", "FledgeTensor", "FledgeTemplate",
                "FledgeTestSupport",
            ]
        ),
        .testTarget(
            name: "FledgeLlamaTests",
            dependencies: [
                "FledgeLlama", "FledgeNN", "FledgeTemplate", "FledgeWeights", "FledgeTensor", "FledgeTestSupport",
            ],
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v5]
)
