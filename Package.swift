// swift-tools-version:6.1
import PackageDescription

let upcomingFeatures: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "OpsCore",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Redis", targets: ["Redis"]),
        .library(name: "OpsCore", targets: ["OpsCore"]),
        .executable(name: "opscore", targets: ["opscore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CHiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .target(
            name: "Redis",
            dependencies: ["CHiredis"],
            swiftSettings: upcomingFeatures
        ),
        .target(
            name: "OpsCore",
            dependencies: [
                "Redis",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcomingFeatures
        ),
        .executableTarget(
            name: "opscore",
            dependencies: [
                "OpsCore",
                "Redis",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: upcomingFeatures,
            plugins: ["BuildCommitPlugin"]
        ),
        .plugin(name: "BuildCommitPlugin", capability: .buildTool()),
        .target(
            name: "RedisTestSupport",
            dependencies: ["Redis"],
            path: "Tests/RedisTestSupport",
            swiftSettings: upcomingFeatures
        ),
        .testTarget(
            name: "RedisTests",
            dependencies: ["Redis", "RedisTestSupport"],
            swiftSettings: upcomingFeatures
        ),
        .testTarget(
            name: "OpsCoreCLITests",
            dependencies: ["OpsCore", "Redis", "RedisTestSupport"],
            swiftSettings: upcomingFeatures
        ),
        .testTarget(
            name: "OpsCoreTests",
            dependencies: ["OpsCore", "Redis", "RedisTestSupport"],
            swiftSettings: upcomingFeatures
        ),
    ],
    swiftLanguageModes: [.v6]
)
