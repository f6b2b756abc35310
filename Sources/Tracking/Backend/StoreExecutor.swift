import Dispatch

/// The serial executor the `TrackingStore` actor runs on: a dispatch queue of its own, so
/// the store's blocking work (libgit2, SQLite, file I/O) never holds one of the few threads
/// of Swift's cooperative pool, which SwiftNIO's request handling also waits on.
///
/// `@unchecked Sendable`: its one stored property is a `DispatchQueue`, which is thread-safe.
final class StoreExecutor: SerialExecutor, @unchecked Sendable {
    private let queue: DispatchQueue
    private static let labelKey = DispatchSpecificKey<String>()

    init(label: String) {
        queue = DispatchQueue(label: label)
        queue.setSpecific(key: Self.labelKey, value: label)
    }

    /// The label of the store executor the calling code runs on, or nil off every one.
    static var current: String? { DispatchQueue.getSpecific(key: labelKey) }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        let executor = asUnownedSerialExecutor()
        queue.async { unowned.runSynchronously(on: executor) }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }
}
