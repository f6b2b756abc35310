import Foundation

/// `GITML_TRACE_PERF=1`: every phase of a command printed to stderr with the
/// milliseconds since the command started, as `GIT_TRACE_PERFORMANCE` does for git.
/// Costs one branch per mark when it is off.
public enum PerfTrace {
    public static let enabled: Bool = {
        guard let value = getenv("GITML_TRACE_PERF") else { return false }
        let text = String(cString: value)
        return !text.isEmpty && text != "0" && text != "false"
    }()

    private static let origin: timespec = {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return t
    }()

    /// Sets the origin; the entry point calls it first.
    public static func start() {
        guard enabled else { return }
        _ = origin
    }

    public static func mark(_ phase: @autoclosure () -> String) {
        guard enabled else { return }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let ms = Double(now.tv_sec - origin.tv_sec) * 1000 + Double(now.tv_nsec - origin.tv_nsec) / 1e6
        let line = "git-ml perf: " + String(format: "%8.3f", ms) + " ms  " + phase() + "\n"
        line.utf8CString.withUnsafeBufferPointer { _ = write(2, $0.baseAddress, $0.count - 1) }
    }
}
