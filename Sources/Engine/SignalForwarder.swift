import Dispatch
import Foundation
import Synchronization

/// Catches SIGINT, SIGTERM and SIGHUP while a run is live and forwards them to
/// the child's process group, so the command can stop cleanly and git-ml still
/// writes the record. A second SIGINT kills the group.
///
/// `@unchecked Sendable`: the dispatch sources are made once in `init` and only
/// cancelled in `stop()`; DispatchSource itself is thread-safe, and the list of
/// received signals is behind a Mutex.
public final class SignalForwarder: @unchecked Sendable {
    static let signals = [SIGINT, SIGTERM, SIGHUP]
    let received = Mutex<[Int32]>([])
    /// A signal that came before the child's process group existed.
    let pending = Mutex<Int32?>(nil)
    var sources: [DispatchSourceSignal] = []

    /// The first signal received, if any.
    public var cancelSignal: Int32? { received.withLock { $0.first } }

    public init(supervisor: ProcessSupervisor) {
        let queue = DispatchQueue(label: "git-ml.signals")
        for s in Self.signals {
            signal(s, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: s, queue: queue)
            source.setEventHandler { [unowned self] in
                let count = self.received.withLock { list -> Int in list.append(s); return list.count }
                let group = supervisor.processGroup
                guard group > 0 else { self.pending.withLock { $0 = s }; return }
                kill(-group, count > 1 && s == SIGINT ? SIGKILL : s)
            }
            source.resume()
            sources.append(source)
        }
    }

    /// Forwards a signal that arrived before the child had started.
    public func forwardPending(to supervisor: ProcessSupervisor) {
        guard supervisor.processGroup > 0, let s = pending.withLock({ p -> Int32? in defer { p = nil }; return p }) else { return }
        kill(-supervisor.processGroup, s)
    }

    /// Restores the default handlers.
    public func stop() {
        sources.forEach { $0.cancel() }
        sources.removeAll()
        for s in Self.signals { signal(s, SIG_DFL) }
    }
}
