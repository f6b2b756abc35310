import Foundation
import Synchronization
import Workspace

/// What to start.
public struct ProcessSpec: Sendable {
    public var arguments: [String]
    public var environment: [String: String]
    public var workingDirectory: String
    /// Give the child /dev/null as stdin (when ours is a terminal: a child in its
    /// own process group must not read the terminal).
    public var stdinFromNull: Bool
    /// Descriptors the child keeps under the same numbers (a run's live lock: the run then
    /// counts as alive while the command lives, even when git-ml itself was killed).
    public var inheritedFiles: [Int32]

    public init(arguments: [String], environment: [String: String], workingDirectory: String, stdinFromNull: Bool,
                inheritedFiles: [Int32] = []) {
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.stdinFromNull = stdinFromNull
        self.inheritedFiles = inheritedFiles
    }
}

/// How a supervised process ended.
public struct ProcessResult: Sendable {
    /// The exit status, or 128 + signal when a signal ended it (as shells report).
    public var exitCode: Int32
    public var signal: Int32?
    /// Set when the process could not be started at all (errno of posix_spawn).
    public var spawnError: Int32?
    public var wallSeconds: Double
    public var cpuSeconds: Double
    public var peakMemoryBytes: Int64
}

/// Starts a command in its own process group with stdout and stderr on pipes,
/// hands every chunk of output to the caller as it arrives (nothing is kept in
/// memory), and calls `tick` a few times a second (to tail metrics) until the
/// command has ended and its pipes are drained.
public final class ProcessSupervisor: Sendable {
    /// The child's process group once started (0 before), for signal forwarding.
    let group = Atomic<Int32>(0)

    public init() {}

    public var processGroup: Int32 { group.load(ordering: .acquiring) }

    public func run(_ spec: ProcessSpec, tickInterval: Double = 0.2,
                    output: (Data, _ isStderr: Bool) -> Void, tick: () -> Void) -> ProcessResult {
        let started = monotonicSeconds()
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        guard makePipe(&outPipe), makePipe(&errPipe) else {
            return ProcessResult(exitCode: 126, signal: nil, spawnError: errno, wallSeconds: 0, cpuSeconds: 0, peakMemoryBytes: 0)
        }

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attr, 0)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attr, &mask)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if spec.stdinFromNull { posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0) }
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        // A dup2 onto itself clears close-on-exec in the child only (POSIX 2024; glibc since 2.29).
        for fd in spec.inheritedFiles where fd > 2 { posix_spawn_file_actions_adddup2(&actions, fd, fd) }

        let argv = spec.arguments.map { strdup($0) } + [nil]
        let envp = spec.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var pid: pid_t = 0
        var rc: Int32
        if let addChdir = spawnChdir {
            // The child enters its folder itself: the process's own folder never changes, so
            // threads spawning at once (a distributed job's ranks, a library's tests) never race.
            rc = addChdir(&actions, spec.workingDirectory)
            if rc == 0 { rc = posix_spawnp(&pid, spec.arguments[0], &actions, &attr, argv, envp) }
        } else {
            // A C library without it: the folder is entered around the spawn.
            let previous = FileManager.default.currentDirectoryPath
            rc = chdir(spec.workingDirectory) == 0 ? Int32(0) : errno
            if rc == 0 {
                rc = posix_spawnp(&pid, spec.arguments[0], &actions, &attr, argv, envp)
                _ = chdir(previous)
            }
        }
        close(outPipe[1]); close(errPipe[1])
        if rc != 0 {
            close(outPipe[0]); close(errPipe[0])
            return ProcessResult(exitCode: rc == ENOENT ? 127 : 126, signal: nil, spawnError: rc,
                                 wallSeconds: monotonicSeconds() - started, cpuSeconds: 0, peakMemoryBytes: 0)
        }
        group.store(pid, ordering: .releasing)
        PerfTrace.mark("command started (pid \(pid))")

        var fds = [pollfd(fd: outPipe[0], events: Int16(POLLIN), revents: 0), pollfd(fd: errPipe[0], events: Int16(POLLIN), revents: 0)]
        let bufferSize = 65536
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: 16)
        defer { buffer.deallocate() }
        var lastTick = monotonicSeconds()
        var status: Int32 = 0
        var usage = rusage()
        var reaped = false
        var reapedAt = 0.0
        // Until the command has ended and its pipes are drained. poll() skips closed
        // (negative) descriptors, so a command that closed its output still gets ticks.
        var closedAt: Double?
        while !reaped || fds.contains(where: { $0.fd >= 0 }) {
            // The pipes close a moment before the process can be reaped: check back soon
            // then, and at the tick rate for a command that closed its output and goes on.
            if closedAt == nil, !fds.contains(where: { $0.fd >= 0 }) { closedAt = monotonicSeconds() }
            let soon = closedAt.map { monotonicSeconds() - $0 < 0.5 } ?? false
            let n = poll(&fds, nfds_t(fds.count), soon ? 2 : Int32(tickInterval * 1000))
            if n > 0 {
                for i in fds.indices where fds[i].fd >= 0 && fds[i].revents != 0 {
                    let got = read(fds[i].fd, buffer, bufferSize)
                    if got > 0 {
                        output(Data(bytes: buffer, count: got), i == 1)
                    } else if got == 0 || (errno != EINTR && errno != EAGAIN) {
                        close(fds[i].fd)
                        fds[i].fd = -1
                    }
                }
            }
            let now = monotonicSeconds()
            if now - lastTick >= tickInterval { tick(); lastTick = now }
            if !reaped, wait4(pid, &status, WNOHANG, &usage) == pid { reaped = true; reapedAt = now }
            // A grandchild that keeps the pipes open must not keep the run alive forever.
            if reaped, now - reapedAt > 2 { break }
        }
        for f in fds where f.fd >= 0 { close(f.fd) }
        if !reaped {
            while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        }
        tick()
        group.store(0, ordering: .releasing)
        let wall = monotonicSeconds() - started
        let cpu = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        let exited = (status & 0x7f) == 0
        let code: Int32 = exited ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return ProcessResult(exitCode: code, signal: exited ? nil : status & 0x7f, spawnError: nil, wallSeconds: wall,
                             cpuSeconds: cpu, peakMemoryBytes: Int64(usage.ru_maxrss) * 1024)
    }

    func makePipe(_ fds: inout [Int32]) -> Bool {
        guard pipe(&fds) == 0 else { return false }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return true
    }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// glibc's `posix_spawn_file_actions_addchdir_np` (2.29 and later), found at run time: its
/// declaration is hidden from Swift by the header's feature macros. nil where it is missing.
let spawnChdir: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32)? = {
    #if canImport(Glibc)
    let everywhere: UnsafeMutableRawPointer? = nil  // RTLD_DEFAULT on glibc
    #else
    let everywhere = UnsafeMutableRawPointer(bitPattern: -2)  // RTLD_DEFAULT on Darwin
    #endif
    guard let symbol = dlsym(everywhere, "posix_spawn_file_actions_addchdir_np") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32).self)
}()
