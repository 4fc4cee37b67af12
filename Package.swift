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
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swhitty/FlyingFox", from: "0.27.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CHiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .target(
            name: "Redis",
            dependencies: ["CHiredis", .product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: upcomingFeatures
        ),
        .target(
            name: "OpsCore",
            dependencies: [
                "Redis",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
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
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "FlyingFox", package: "FlyingFox"),
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
