// swift-tools-version:6.0
// gazefilter: live Kalman filtering of eye-tracker gaze streams over ZeroMQ, and batch refits.
import PackageDescription

/// Release-mode settings shared by every target: strict Swift 6 concurrency everywhere.
let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "gazefilter",
    products: [
        .executable(name: "gazefit", targets: ["gazefit"]),
        .executable(name: "gazefilterd", targets: ["gazefilterd"]),
        .executable(name: "gazecat", targets: ["gazecat"]),
        .library(name: "LinearDynamics", targets: ["LinearDynamics"]),
        .library(name: "GazeKit", targets: ["GazeKit"]),
        .library(name: "ZeroMQ", targets: ["ZeroMQ"]),
    ],
    targets: [
        // Pure numerical core: model parameters, online and batch filter, smoother, EM, sampling.
        // Optimised in debug builds too: the tests fit models by EM to convergence, which
        // unoptimised generic kernels make tens of times slower.
        .target(name: "LinearDynamics", swiftSettings: strict + [.unsafeFlags(["-O"])]),

        // libzmq through pkg-config, and a small safe Swift layer over it.
        .systemLibrary(name: "CZeroMQ", pkgConfig: "libzmq", providers: [.apt(["libzmq3-dev"])]),
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"], swiftSettings: strict),

        // The gaze domain: samples, masking, files, parameter files, wire codec, recordings.
        .target(name: "GazeKit", dependencies: ["LinearDynamics", "CommandLineSupport"], swiftSettings: strict + [.unsafeFlags(["-O"])]),

        // The daemon's settings (one table), read by the daemon and, for each stream's model, by the refit.
        .target(name: "GazeFilterConfiguration", dependencies: ["GazeKit", "CommandLineSupport"], swiftSettings: strict),

        // Table-driven argument parsing shared by the three executables.
        .target(name: "CommandLineSupport", swiftSettings: strict),

        // The periodic refit: recordings in, gated EM fit, atomic install, daemon reload, reports.
        .target(name: "GazeRefit", dependencies: ["LinearDynamics", "GazeKit", "GazeFilterConfiguration", "CommandLineSupport"], swiftSettings: strict),

        // What `gazefit` does, as a library so tests can call it.
        .target(
            name: "GazefitCommands",
            dependencies: ["LinearDynamics", "GazeKit", "GazeRefit", "CommandLineSupport"],
            swiftSettings: strict),

        .executableTarget(name: "gazefit", dependencies: ["GazefitCommands"], swiftSettings: strict),

        // The live daemon's service: sockets, streams, statistics, reload, systemd notification.
        .target(
            name: "GazeFilterDaemon",
            dependencies: ["LinearDynamics", "GazeKit", "GazeFilterConfiguration", "ZeroMQ", "CommandLineSupport"],
            swiftSettings: strict),

        .executableTarget(
            name: "gazefilterd", dependencies: ["GazeFilterDaemon", "CommandLineSupport", "GazeKit"],
            swiftSettings: strict),
        // What `gazecat` does: replay files as live streams, print what is published.
        .target(name: "GazecatCommands", dependencies: ["GazeKit", "ZeroMQ", "CommandLineSupport"], swiftSettings: strict),
        .executableTarget(name: "gazecat", dependencies: ["GazecatCommands"], swiftSettings: strict),

        // `scripts/bench`: timings of the core (and later the daemon and refit) for side-by-side reports.
        .executableTarget(
            name: "gazebench", dependencies: ["LinearDynamics", "GazeKit", "ZeroMQ", "GazeFilterDaemon", "GazeFilterConfiguration"], swiftSettings: strict),

        // Shared by the tests: reference fixtures, tolerance checks, process launching.
        .target(name: "_TestSupport", dependencies: ["LinearDynamics", "GazeKit", "ZeroMQ"], swiftSettings: strict),

        .testTarget(
            name: "LinearDynamicsTests", dependencies: ["LinearDynamics", "GazeKit", "_TestSupport"],
            swiftSettings: strict),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ"], swiftSettings: strict),
        .testTarget(
            name: "GazeFilterDaemonTests",
            dependencies: ["GazeFilterDaemon", "GazeFilterConfiguration", "GazeKit", "LinearDynamics", "ZeroMQ", "_TestSupport", "CommandLineSupport"],
            swiftSettings: strict),
        .testTarget(name: "GazeKitTests", dependencies: ["GazeKit", "LinearDynamics", "_TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "GazefitTests", dependencies: ["GazefitCommands", "GazeRefit", "GazeFilterConfiguration", "CommandLineSupport", "GazeKit", "LinearDynamics", "ZeroMQ", "_TestSupport"],
            swiftSettings: strict),
    ]
)
