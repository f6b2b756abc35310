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

    let supervisors: [ProcessSupervisor]

    public convenience init(supervisor: ProcessSupervisor) { self.init(supervisors: [supervisor]) }

    /// Forwarders alive in this process (a sweep's trials run side by side, each with one):
    /// the default handlers come back only when the last one stops.
    static let alive = Mutex(0)

    public init(supervisors: [ProcessSupervisor]) {
        self.supervisors = supervisors
        Self.alive.withLock { $0 += 1 }
        let queue = DispatchQueue(label: "git-ml.signals")
        for s in Self.signals {
            signal(s, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: s, queue: queue)
            source.setEventHandler { [unowned self] in
                let count = self.received.withLock { list -> Int in list.append(s); return list.count }
                let groups = supervisors.map(\.processGroup)
                if groups.contains(0) { self.pending.withLock { $0 = s } }
                for group in groups where group > 0 { kill(-group, count > 1 && s == SIGINT ? SIGKILL : s) }
            }
            source.resume()
            sources.append(source)
        }
    }

    /// Forwards a signal that arrived before every child had started.
    public func forwardPending() {
        let groups = supervisors.map(\.processGroup)
        guard !groups.contains(0), let s = pending.withLock({ p -> Int32? in defer { p = nil }; return p }) else { return }
        for group in groups { kill(-group, s) }
    }

    /// Stops every process group: SIGTERM now, SIGKILL after `grace` seconds for those still there.
    public func stopAll(grace: Double) {
        let groups = supervisors.map(\.processGroup).filter { $0 > 0 }
        for group in groups { kill(-group, SIGTERM) }
        let supervisors = self.supervisors
        DispatchQueue.global().asyncAfter(deadline: .now() + grace) {
            // Only groups whose leader is still being supervised (a finished one reads 0).
            for group in supervisors.map(\.processGroup) where group > 0 { kill(-group, SIGKILL) }
        }
    }

    /// Restores the default handlers.
    public func stop() {
        guard !sources.isEmpty else { return }
        sources.forEach { $0.cancel() }
        sources.removeAll()
        let last = Self.alive.withLock { n -> Bool in n -= 1; return n == 0 }
        if last { for s in Self.signals { signal(s, SIG_DFL) } }
    }
}
