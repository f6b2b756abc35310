import Foundation
import ObjectStore
import Workspace

/// A built environment, ready to run in.
public struct RealizedEnvironment: Sendable {
    public var id: String
    public var folder: String
    /// The `pip freeze` lock's object id in the store.
    public var lock: String
    public var python: String
    /// False when it was built before and reused.
    public var built: Bool

    /// Variables that put the environment first (PATH, VIRTUAL_ENV; PYTHONHOME removed).
    public func variables(basePath: String?) -> [String: String] {
        ["PATH": folder + "/bin" + (basePath.map { ":" + $0 } ?? ""), "VIRTUAL_ENV": folder, "PYTHONHOME": ""]
    }
}

/// Realizes environments as virtualenvs under `.git/ml/envs/<id>`, built once: a
/// build holds a lock so that two runs needing the same new environment build it
/// once; it is marked ready only when pip succeeded, so a failed build is never
/// taken for a good one.
public struct EnvironmentBuilder {
    let workspace: Workspace

    public init(workspace: Workspace) { self.workspace = workspace }

    /// The built environment; builds it first when needed. `line` gets each line of
    /// the build's output (pip's), for a progress display.
    public func realize(_ spec: EnvironmentSpec, line: @escaping @Sendable (String) -> Void = { _ in },
                        isCanceled: @escaping @Sendable () -> Bool = { false },
                        waiting: () -> Void = {}, starting: () -> Void = {}) throws -> RealizedEnvironment {
        let id = spec.id
        let folder = workspace.environmentFolder(id)
        let marker = folder + "/" + Workspace.readyMarker
        if let ready = Self.readMarker(marker) {
            utimes(marker, nil)  // last used, for `git ml env prune`
            return RealizedEnvironment(id: id, folder: folder, lock: ready.lock, python: ready.python, built: false)
        }
        let envs = workspace.stateDirectory + "/envs"
        try FileManager.default.createDirectory(atPath: envs, withIntermediateDirectories: true)
        let lockFD = open(envs + "/" + id + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lockFD >= 0 else { throw StageError(reason: "environment: cannot lock \(envs)/\(id).lock", detail: String(cString: strerror(errno))) }
        defer { close(lockFD) }
        if flock(lockFD, LOCK_EX | LOCK_NB) != 0 {
            waiting()
            while flock(lockFD, LOCK_EX) != 0 && errno == EINTR {}
        }
        if let ready = Self.readMarker(marker) {
            return RealizedEnvironment(id: id, folder: folder, lock: ready.lock, python: ready.python, built: false)
        }
        starting()
        return try build(spec, folder: folder, marker: marker, line: line, isCanceled: isCanceled)
    }

    struct Marker: Codable { var lock: String; var python: String }

    static func readMarker(_ path: String) -> Marker? {
        FileManager.default.contents(atPath: path).flatMap { try? JSONDecoder().decode(Marker.self, from: $0) }
    }

    func build(_ spec: EnvironmentSpec, folder: String, marker: String, line: @escaping @Sendable (String) -> Void,
               isCanceled: @escaping @Sendable () -> Bool) throws -> RealizedEnvironment {
        try? FileManager.default.removeItem(atPath: folder)  // a build that died half way
        let logPath = folder + ".log"
        unlink(logPath)
        let log = LineLog(path: logPath, line: line)
        let python = try hostPython(for: spec, log: log)
        func step(_ what: String, _ arguments: [String]) throws {
            log.note("$ " + arguments.joined(separator: " "))
            let supervisor = ProcessSupervisor()
            var stopped = false
            let result = supervisor.run(
                ProcessSpec(arguments: arguments, environment: buildEnvironment(), workingDirectory: workspace.stateDirectory, stdinFromNull: true),
                output: { data, _ in log.append(data) }, tick: {
                    // Ctrl-C while pip works stops the build (the run is then recorded as canceled).
                    if !stopped, isCanceled(), supervisor.processGroup > 0 { kill(-supervisor.processGroup, SIGTERM); stopped = true }
                })
            guard result.spawnError == nil, result.exitCode == 0 else {
                try? FileManager.default.removeItem(atPath: folder)
                if stopped { throw StageError(reason: "canceled while building environment \(spec.id.prefix(12))", detail: "") }
                let cause = result.spawnError.map { String(cString: strerror($0)) } ?? "exit code \(result.exitCode)"
                throw StageError(reason: "environment \(spec.id.prefix(12)) failed to build: \(what) (\(cause))",
                                 detail: "last lines of \(workspace.relative(logPath)):\n" + log.tail(20))
            }
        }
        if spec.pip.isEmpty {
            // Nothing to install: a bare virtualenv (no pip inside) is made in a blink, and its lock is empty.
            try step("python -m venv", [python, "-m", "venv", "--without-pip", folder])
            return try finish(spec, folder: folder, marker: marker, lock: Data(), log: log)
        }
        try step("python -m venv", [python, "-m", "venv", folder])
        let requirements = folder + "/requirements.txt"
        try writeFileAtomically(Data(spec.requirementsText.utf8), to: requirements)
        try step("pip install", [folder + "/bin/python", "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                                 "--progress-bar", "off", "-r", requirements])
        let freeze = folder + "/lock.txt"
        let freezeLog = LineLog(path: freeze, line: { _ in })
        let result = ProcessSupervisor().run(
            ProcessSpec(arguments: [folder + "/bin/python", "-m", "pip", "freeze", "--disable-pip-version-check"],
                        environment: buildEnvironment(), workingDirectory: workspace.stateDirectory, stdinFromNull: true),
            output: { data, isStderr in if !isStderr { freezeLog.append(data) } }, tick: {})
        guard result.exitCode == 0, let lockData = FileManager.default.contents(atPath: freeze) else {
            try? FileManager.default.removeItem(atPath: folder)
            throw StageError(reason: "environment \(spec.id.prefix(12)) failed to build: pip freeze (exit code \(result.exitCode))", detail: "")
        }
        return try finish(spec, folder: folder, marker: marker, lock: lockData, log: log)
    }

    /// Records the lock (store object and `refs/ml/envs/<id>`) and marks the build ready.
    func finish(_ spec: EnvironmentSpec, folder: String, marker: String, lock lockData: Data, log: LineLog) throws -> RealizedEnvironment {
        let lockID = try workspace.recordEnvironmentLock(spec, lock: lockData)
        let version = pythonVersion(folder + "/bin/python")
        let encoded = try JSONEncoder().encode(Marker(lock: lockID, python: version))
        try writeFileAtomically(encoded, to: marker)
        log.note("environment \(spec.id.prefix(12)) ready")
        return RealizedEnvironment(id: spec.id, folder: folder, lock: lockID, python: version, built: true)
    }

    /// The host's python3, or `python3.X` when the spec pins 3.X and the host has it;
    /// a pin the host cannot meet is reported and the host's Python used.
    func hostPython(for spec: EnvironmentSpec, log: LineLog) throws -> String {
        let path = (workspace.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map(String.init)
        func find(_ name: String) -> String? { path.map { $0 + "/" + name }.first { access($0, X_OK) == 0 } }
        guard let host = find("python3") else {
            throw StageError(reason: "environment: no python3 on PATH", detail: "install Python 3 (apt install python3 python3-venv)")
        }
        guard let pin = spec.python else { return host }
        if pythonVersion(host).hasPrefix(pin + ".") || pythonVersion(host) == pin { return host }
        if let exact = find("python" + pin) { return exact }
        log.note("git-ml: the environment asks for Python \(pin); this machine has \(pythonVersion(host)), which is used instead")
        return host
    }

    func pythonVersion(_ python: String) -> String {
        let out = LineLog(path: nil, line: { _ in })
        _ = ProcessSupervisor().run(
            ProcessSpec(arguments: [python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                        environment: buildEnvironment(), workingDirectory: "/", stdinFromNull: true),
            output: { data, _ in out.append(data) }, tick: {})
        return out.tail(1).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func buildEnvironment() -> [String: String] {
        var env = workspace.environment
        for key in ["VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH", "PIP_REQUIRE_VIRTUALENV"] { env.removeValue(forKey: key) }
        env["PIP_NO_INPUT"] = "1"
        return env
    }
}

/// Appends output to a log file and hands out complete lines; keeps the last lines for an error.
final class LineLog: @unchecked Sendable {
    let fd: Int32
    let line: @Sendable (String) -> Void
    let lock = NSLock()
    var partial = Data()
    var last: [String] = []

    init(path: String?, line: @escaping @Sendable (String) -> Void) {
        fd = path.map { open($0, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644) } ?? -1
        self.line = line
    }

    deinit { if fd >= 0 { close(fd) } }

    func append(_ data: Data) {
        if fd >= 0 { data.withUnsafeBytes { _ = write(fd, $0.baseAddress, $0.count) } }
        lock.lock()
        partial.append(data)
        var lines: [String] = []
        while let nl = partial.firstIndex(of: 10) {
            lines.append(String(decoding: partial[partial.startIndex..<nl], as: UTF8.self))
            partial.removeSubrange(partial.startIndex...nl)
        }
        last += lines
        if last.count > 50 { last.removeFirst(last.count - 50) }
        lock.unlock()
        lines.forEach(line)
    }

    func note(_ text: String) { append(Data((text + "\n").utf8)) }

    func tail(_ n: Int) -> String {
        lock.lock(); defer { lock.unlock() }
        var lines = last
        if !partial.isEmpty { lines.append(String(decoding: partial, as: UTF8.self)) }
        return lines.suffix(n).joined(separator: "\n")
    }
}
