// swift-tools-version:6.0
// FashionVL: fashion vision-language models (MVLT, Kaleido-BERT, SyncMask) in Swift over libtorch.
import PackageDescription

let package = Package(
    name: "FashionVL",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "fashionvl", targets: ["fashionvl"]),
        .library(name: "Torch", targets: ["Torch"]),
        .library(name: "FashionData", targets: ["FashionData"]),
        .library(name: "FashionModels", targets: ["FashionModels"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // The C ABI of libctorch (built and installed by scripts/setup from Sources/CTorch/src).
        .systemLibrary(name: "CTorch", path: "Sources/CTorch", pkgConfig: "ctorch"),
        .systemLibrary(name: "CHDF5", path: "Sources/CHDF5"),
        .systemLibrary(name: "CStb", path: "Sources/CStb"),
        .target(name: "Torch", dependencies: ["CTorch"]),
        .target(name: "FashionData", dependencies: ["CHDF5", "CStb"]),
        .target(name: "FashionModels", dependencies: ["Torch"], exclude: ["Configs"]),
        .target(name: "FashionTrain", dependencies: ["Torch", "FashionData", "FashionModels"]),
        .target(name: "FashionEval", dependencies: ["Torch", "FashionData", "FashionModels", "FashionTrain"]),
        .executableTarget(name: "fashionvl", dependencies: [
            "Torch", "FashionData", "FashionModels", "FashionTrain", "FashionEval",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "TorchTests", dependencies: ["Torch"]),
        .testTarget(name: "FashionDataTests", dependencies: ["FashionData"]),
        .testTarget(name: "CLITests", dependencies: []),
        .testTarget(name: "FashionEvalTests", dependencies: ["FashionEval", "FashionData", "FashionTrain", "FashionModels", "Torch"]),
        .testTarget(name: "FashionModelsTests", dependencies: ["FashionModels", "Torch"]),
        .testTarget(name: "FashionTrainTests", dependencies: ["FashionTrain", "FashionData", "FashionModels", "Torch"]),
    ],
    swiftLanguageModes: [.v5]
)
