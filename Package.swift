// swift-tools-version:6.0
// FashionVL: fashion vision-language models (MVLT, Kaleido-BERT, SyncMask) in Swift over libtorch.
import PackageDescription

let package = Package(
    name: "FashionVL",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "fashionvl", targets: ["fashionvl"]),
        .executable(name: "fashionvl-check-hdf5", targets: ["fashionvl-check-hdf5"]),
        .library(name: "Torch", targets: ["Torch"]),
        .library(name: "FashionData", targets: ["FashionData"]),
        .library(name: "FashionModels", targets: ["FashionModels"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // The C ABI of libctorch (built and installed by scripts/setup from Sources/CTorch/src).
        .systemLibrary(name: "CTorch", path: "Sources/CTorch", pkgConfig: "ctorch"),
        .systemLibrary(name: "CHDF5", path: "Sources/CHDF5"),
        .systemLibrary(name: "CStb", path: "Sources/CStb"),
        .target(name: "Torch", dependencies: ["CTorch"]),
        .target(name: "FashionData", dependencies: ["CHDF5", "CStb", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "FashionModels", dependencies: ["Torch"], exclude: ["Configs"]),
        .target(name: "FashionTrain", dependencies: ["Torch", "FashionData", "FashionModels"]),
        .target(name: "FashionEval", dependencies: ["Torch", "FashionData", "FashionModels", "FashionTrain"]),
        // The search service (issue 15): index, routes, page; `fashionvl serve` is its trivial main.
        .target(name: "FashionSearch", dependencies: [
            "Torch", "FashionData", "FashionModels", "FashionEval",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "fashionvl", dependencies: [
            "Torch", "FashionData", "FashionModels", "FashionTrain", "FashionEval", "FashionSearch",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The child-process check of an HDF5 file (UntrustedHDF5.swift), without libtorch: fashionvl runs it when
        // it sits beside the fashionvl executable, else `fashionvl check-hdf5`.
        .executableTarget(name: "fashionvl-check-hdf5", dependencies: ["FashionData"]),
        // Test helpers shared by the test targets (the PyTorch-port runner, temp folders).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "TorchTests", dependencies: ["Torch", "TestSupport"]),
        .testTarget(name: "FashionSearchTests", dependencies: [
            "FashionSearch", "FashionEval", "FashionData", "FashionModels", "Torch",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        .testTarget(name: "FashionDataTests", dependencies: ["FashionData", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["TestSupport"]),
        .testTarget(name: "FashionEvalTests", dependencies: ["FashionEval", "FashionData", "FashionTrain", "FashionModels", "Torch"]),
        .testTarget(name: "FashionModelsTests", dependencies: ["FashionModels", "Torch", "TestSupport"]),
        .testTarget(name: "FashionTrainTests", dependencies: ["FashionTrain", "FashionData", "FashionModels", "Torch", "TestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
