// swift-tools-version:6.0
//
// git-ml: a Git-native MLOps tool. The targets below are layered bottom up;
// a target imports only the ones listed before it (see docs/architecture.md).
import PackageDescription

let package = Package(
    name: "git-ml",
    platforms: [.macOS(.v14)],
    products: [
        // Named git-ml so that `git ml ...` finds it on PATH.
        .executable(name: "git-ml", targets: ["git-ml"]),
    ],
    dependencies: [
        // Command-line parsing, help and completion for every subcommand.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // YAML for .mlops/config.yaml and (later) job, environment and data specs.
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
        // SHA-256 over BoringSSL's assembly: the object store's hash at openssl speed.
        .package(url: "https://github.com/apple/swift-crypto", "3.0.0"..<"5.0.0"),
        // HTTP server for the MLflow-compatible tracking API (`git ml serve`, and one per run):
        // SwiftNIO underneath; linking it costs git-ml about 1 ms at startup (measured).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        // SQLite for the query index (.git/ml/index.sqlite): statements, transactions, a busy
        // timeout and cursors over the system's libsqlite3, rather than hand-written bindings.
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        // SwiftNIO (already under Hummingbird): a run's tracking server is handed a socket that
        // listens from the start, which Hummingbird's address-based bind cannot take.
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        // Hummingbird's logger; git-ml sets its level so the embedded server stays quiet.
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        // HTTP(S) client for object remotes of type lfs (the Git LFS batch API and basic
        // transfer): SwiftNIO with TLS, redirects, streaming bodies and connection pooling,
        // linked statically (libcurl through Foundation would load some twenty shared
        // libraries on every git-ml start).
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.20.0"),
    ],
    targets: [
        // libgit2 as a system library (pkg-config libgit2, apt libgit2-dev).
        .systemLibrary(
            name: "CGit2",
            pkgConfig: "libgit2",
            providers: [.apt(["libgit2-dev"]), .brew(["libgit2"])]
        ),
        // Swift over libgit2: repositories, objects, refs with compare-and-swap,
        // notes, and snapshot trees of a dirty work tree. No C type leaks out.
        .target(name: "GitKit", dependencies: ["CGit2"]),
        // The content-addressed store under .git/ml/objects: atomic writes,
        // streaming and parallel SHA-256, folder manifests, checkout, verification,
        // and object remotes (dir, lfs) behind one protocol and one transfer engine.
        .target(name: "ObjectStore", dependencies: [
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),
        // The domain: run records and the ledger that keeps them under refs/ml/*,
        // workspace config, hooks, queries, diffs and fsck. The one entry point
        // (`Workspace`) for everything above.
        .target(name: "Workspace", dependencies: [
            "GitKit", "ObjectStore",
            .product(name: "Yams", package: "Yams"),
            .product(name: "GRDB", package: "GRDB.swift"),
        ], exclude: ["Resources"]),
        // The MLflow-compatible tracking API over the git records (Hummingbird router and app).
        .target(name: "Tracking", dependencies: [
            "Workspace", "ObjectStore",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Execution: process supervision, the live metrics feed, the run executor, and the
        // tracking server each run gets.
        .target(name: "Engine", dependencies: ["Workspace", "ObjectStore", "Tracking"]),
        // What `git ml serve` runs: the tracking API, the model registry and the Git LFS
        // object server in the foreground (later the studio and webhooks).
        .target(name: "Server", dependencies: [
            "Tracking", "ObjectStore", "Workspace",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The `git ml` subcommands: options, validation, one call below, rendering.
        .target(name: "GitMLCommands", dependencies: [
            "ObjectStore", "Workspace", "Engine", "Tracking", "Server",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // The executable: a few lines.
        .executableTarget(name: "git-ml", dependencies: ["GitMLCommands"]),

        .testTarget(name: "GitKitTests", dependencies: ["GitKit"]),
        .testTarget(name: "ObjectStoreTests", dependencies: ["ObjectStore"]),
        .testTarget(name: "WorkspaceTests", dependencies: ["Workspace", "GitKit"]),
        .testTarget(name: "TrackingTests", dependencies: [
            "Tracking", .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Workspace", "ObjectStore"]),
        // Drives the built git-ml binary in fresh repositories, as a user does.
        .testTarget(name: "EndToEndTests", dependencies: ["git-ml", "GitKit", "ObjectStore"]),
    ],
    swiftLanguageModes: [.v6]
)
