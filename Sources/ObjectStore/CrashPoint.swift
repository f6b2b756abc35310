import Foundation
import Synchronization

/// A test hook for crash windows: with `GITML_TEST_CRASH_AT=<point>` (or `<point>:<n>`) in
/// the environment, the process kills itself with SIGKILL the n-th time (default: the first)
/// it passes `point`, so a test can stop git-ml at every step of a write and check that what
/// it left is whole. Without the variable a pass costs one comparison.
public enum CrashPoint {
    private static let target: (point: String, nth: Int)? = {
        guard let raw = ProcessInfo.processInfo.environment["GITML_TEST_CRASH_AT"], !raw.isEmpty else { return nil }
        // Points have colons of their own (`finish:start`); a count is a number after the last.
        if let colon = raw.lastIndex(of: ":"), let n = Int(raw[raw.index(after: colon)...]) { return (String(raw[..<colon]), n) }
        return (raw, 1)
    }()
    private static let passes = Atomic<Int>(0)

    public static func pass(_ point: String) {
        guard let target, target.point == point else { return }
        if passes.wrappingAdd(1, ordering: .relaxed).newValue == target.nth { kill(getpid(), SIGKILL) }
    }
}
