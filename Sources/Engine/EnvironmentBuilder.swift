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
        do {
            return try build(spec, folder: folder, marker: marker, line: line, isCanceled: isCanceled)
        } catch {
            // Whatever failed (an install, the record, the marker), no half-built folder stays.
            try? FileManager.default.removeItem(atPath: folder)
            throw error
        }
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
        // What the spec's translation decided, said once here and kept in the record.
        var notes = (spec.translations ?? []) + spec.warnings
        notes.forEach { log.note("git-ml: " + $0) }
        let python = try hostPython(for: spec, log: log, notes: &notes)
        func step(_ what: String, _ arguments: [String], _ extra: [String: String] = [:]) throws {
            log.note("$ " + arguments.joined(separator: " "))
            let supervisor = ProcessSupervisor()
            var stopped = false
            let result = supervisor.run(
                ProcessSpec(arguments: arguments, environment: buildEnvironment().merging(extra) { _, new in new },
                            workingDirectory: workspace.stateDirectory, stdinFromNull: true),
                output: { data, _ in log.append(data) }, tick: {
                    // Ctrl-C while packages install stops the build (the run is then recorded as canceled).
                    if !stopped, isCanceled(), supervisor.processGroup > 0 { kill(-supervisor.processGroup, SIGTERM); stopped = true }
                })
            guard result.spawnError == nil, result.exitCode == 0 else {
                try? FileManager.default.removeItem(atPath: folder)
                if stopped { throw StageError(reason: "canceled while building environment \(spec.id.prefix(12))", detail: "") }
                let cause = result.spawnError.map { String(cString: strerror($0)) } ?? "exit code \(result.exitCode)"
                let why = Self.failureSummary(log.tail(50)).map { ": " + $0 } ?? " (\(cause))"
                throw StageError(reason: "environment \(spec.id.prefix(12)) failed to build: \(what)\(why)",
                                 detail: "last lines of \(workspace.relative(logPath)):\n" + log.tail(20))
            }
        }
        func freeze(_ what: String, _ arguments: [String], _ extra: [String: String] = [:]) throws -> Data {
            let lockPath = folder + "/lock.txt"
            let lockLog = LineLog(path: lockPath, line: { _ in })
            let result = ProcessSupervisor().run(
                ProcessSpec(arguments: arguments, environment: buildEnvironment().merging(extra) { _, new in new },
                            workingDirectory: workspace.stateDirectory, stdinFromNull: true),
                output: { data, isStderr in if !isStderr { lockLog.append(data) } }, tick: {})
            guard result.spawnError == nil, result.exitCode == 0, let lockData = FileManager.default.contents(atPath: lockPath) else {
                try? FileManager.default.removeItem(atPath: folder)
                let cause = result.spawnError.map { String(cString: strerror($0)) } ?? "exit code \(result.exitCode)"
                throw StageError(reason: "environment \(spec.id.prefix(12)) failed to build: \(what) (\(cause))", detail: "")
            }
            return lockData
        }
        if spec.pip.isEmpty {
            // Nothing to install: a bare virtualenv (no pip inside) is made in a blink, and its lock is empty.
            try step("python -m venv", [python, "-m", "venv", "--without-pip", folder])
            return try finish(spec, folder: folder, marker: marker, lock: Data(), notes: notes, log: log)
        }
        let requirements = workspace.stateDirectory + "/envs/" + spec.id + ".requirements.txt"
        try writeFileAtomically(Data(spec.requirementsText.utf8), to: requirements)
        defer { unlink(requirements) }
        switch try installer(log: log) {
        case .uv(let uv):
            let extra = uvEnvironment()
            notes.append("built with \(uv) (cache \(workspace.relative(extra["UV_CACHE_DIR"]!)))")
            // --seed: pip inside, as a venv made by python -m venv has it (scripts call python -m pip).
            try step("uv venv", [uv, "venv", "--seed", "--python", python, folder], extra)
            try step("uv pip install", [uv, "pip", "install", "--python", folder + "/bin/python", "-r", requirements], extra)
            let lock = try freeze("uv pip freeze", [uv, "pip", "freeze", "--python", folder + "/bin/python"], extra)
            return try finish(spec, folder: folder, marker: marker, lock: lock, notes: notes, log: log)
        case .pip:
            notes.append("built with pip")
            try step("python -m venv", [python, "-m", "venv", folder])
            try step("pip install", [folder + "/bin/python", "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                                     "--progress-bar", "off", "-r", requirements])
            let lock = try freeze("pip freeze", [folder + "/bin/python", "-m", "pip", "freeze", "--disable-pip-version-check"])
            return try finish(spec, folder: folder, marker: marker, lock: lock, notes: notes, log: log)
        }
    }

    /// One line naming what failed, from an installer's last lines: uv's `error:` and the first
    /// `cause:` after it (which names the package), or pip's `ERROR:` lines.
    static func failureSummary(_ tail: String) -> String? {
        let lines = tail.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        if let e = lines.firstIndex(where: { $0.hasPrefix("error:") }) {
            let error = String(lines[e].dropFirst("error:".count)).trimmingCharacters(in: .whitespaces)
            if let cause = lines[(e + 1)...].first(where: { $0.hasPrefix("cause:") }), error.hasPrefix("No solution") {
                return String(cause.dropFirst("cause:".count)).trimmingCharacters(in: .whitespaces)
            }
            return error
        }
        let errors = lines.filter { $0.hasPrefix("ERROR:") }.map { String($0.dropFirst("ERROR:".count)).trimmingCharacters(in: .whitespaces) }
        return errors.isEmpty ? nil : errors.joined(separator: "; ")
    }

    /// The installer a build uses (see `WorkspaceConfig.Environments`).
    enum Installer { case uv(String), pip }

    func installer(log: LineLog) throws -> Installer {
        let settings = try workspace.config().environments
        if settings.installer == .pip { return .pip }
        if let given = workspace.environment["GITML_UV"], !given.isEmpty {
            guard access(given, X_OK) == 0 else {
                throw StageError(reason: "environment: GITML_UV names \(given), which is not an executable", detail: "")
            }
            return .uv(given)
        }
        if let onPath = Self.find("uv", in: workspace.environment) { return .uv(onPath) }
        let tool = toolsFolder + "/uv/bin/uv"
        if access(tool, X_OK) == 0 { return .uv(tool) }
        if settings.fetchUV { return .uv(try fetchUV(log: log)) }
        if settings.installer == .uv {
            throw StageError(reason: "environment: environments.installer is uv, but uv is not on PATH, in GITML_UV or in \(toolsFolder)",
                             detail: "install it (pip install uv), or set environments.fetch_uv: true in .mlops/config.yaml")
        }
        log.note("git-ml: building with pip; uv builds in seconds (pip install uv, or environments.fetch_uv: true in .mlops/config.yaml)")
        return .pip
    }

    /// git-ml's own tool folder (GITML_TOOLS_DIR, else $XDG_DATA_HOME/git-ml/tools, else ~/.local/share/git-ml/tools).
    var toolsFolder: String {
        let env = workspace.environment
        if let dir = env["GITML_TOOLS_DIR"], !dir.isEmpty { return dir }
        if let data = env["XDG_DATA_HOME"], !data.isEmpty { return data + "/git-ml/tools" }
        return (env["HOME"] ?? NSHomeDirectory()) + "/.local/share/git-ml/tools"
    }

    /// The uv that `environments.fetch_uv` installs: the version git-ml is tested with.
    static let fetchedUV = "uv==0.13.9"

    /// Installs uv from PyPI into the tool folder, once, under a lock (two builds fetch it once).
    func fetchUV(log: LineLog) throws -> String {
        let tools = toolsFolder
        let tool = tools + "/uv/bin/uv"
        try FileManager.default.createDirectory(atPath: tools, withIntermediateDirectories: true)
        let lockFD = open(tools + "/uv.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lockFD >= 0 else { throw StageError(reason: "environment: cannot lock \(tools)/uv.lock", detail: String(cString: strerror(errno))) }
        defer { close(lockFD) }
        while flock(lockFD, LOCK_EX) != 0 && errno == EINTR {}
        if access(tool, X_OK) == 0 { return tool }
        guard let python = Self.find("python3", in: workspace.environment) else {
            throw StageError(reason: "environment: no python3 on PATH to install uv with", detail: "")
        }
        let partial = tools + "/uv.partial-\(getpid())"
        try? FileManager.default.removeItem(atPath: partial)
        log.note("git-ml: installing uv into \(tools) (environments.fetch_uv)")
        for arguments in [[python, "-m", "venv", partial],
                          [partial + "/bin/python", "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off", Self.fetchedUV]] {
            log.note("$ " + arguments.joined(separator: " "))
            let result = ProcessSupervisor().run(
                ProcessSpec(arguments: arguments, environment: buildEnvironment(), workingDirectory: tools, stdinFromNull: true),
                output: { data, _ in log.append(data) }, tick: {})
            guard result.spawnError == nil, result.exitCode == 0 else {
                try? FileManager.default.removeItem(atPath: partial)
                throw StageError(reason: "environment: could not install uv (\(Self.failureSummary(log.tail(30)) ?? "exit code \(result.exitCode)"))",
                                 detail: "set environments.installer: pip in .mlops/config.yaml to build with pip")
            }
        }
        try? FileManager.default.removeItem(atPath: tools + "/uv")
        guard rename(partial, tools + "/uv") == 0 else {
            throw StageError(reason: "environment: cannot move uv into \(tools)/uv: \(String(cString: strerror(errno)))", detail: "")
        }
        return tool
    }

    /// What uv is told: a download cache shared by every environment of the repository, on the
    /// same file system as the environments (so installed files are hard links into it); no
    /// Python downloads; pip's own index settings carried over, since uv does not read them.
    /// A user's own UV_* settings win.
    func uvEnvironment() -> [String: String] {
        // unsafe-best-match: a package is taken from whichever index has the best version, as pip
        // does (uv's default takes the first index that has it: the PyTorch index's numpy, say).
        var env = ["UV_CACHE_DIR": workspace.stateDirectory + "/cache/uv", "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1",
                   "UV_INDEX_STRATEGY": "unsafe-best-match",
                   "UV_CREDENTIALS_DIR": workspace.stateDirectory + "/cache/uv-credentials"]
        let given = workspace.environment
        for (pip, uv) in [("PIP_INDEX_URL", "UV_INDEX_URL"), ("PIP_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL"), ("PIP_FIND_LINKS", "UV_FIND_LINKS")] {
            if let value = given[pip], !value.isEmpty, given[uv] == nil { env[uv] = value }
        }
        for key in Array(env.keys) where given[key] != nil && key != "UV_CACHE_DIR" { env[key] = given[key] }
        return env
    }

    static func find(_ name: String, in environment: [String: String]) -> String? {
        (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map { $0 + "/" + name }.first { access($0, X_OK) == 0 }
    }

    /// Records the lock (store object and `refs/ml/envs/<id>`, with the build's notes) and marks the build ready.
    func finish(_ spec: EnvironmentSpec, folder: String, marker: String, lock lockData: Data, notes: [String], log: LineLog) throws -> RealizedEnvironment {
        let lockID = try workspace.recordEnvironmentLock(spec, lock: lockData, notes: notes)
        let version = pythonVersion(folder + "/bin/python")
        let encoded = try JSONEncoder().encode(Marker(lock: lockID, python: version))
        try writeFileAtomically(encoded, to: marker)
        log.note("environment \(spec.id.prefix(12)) ready")
        return RealizedEnvironment(id: spec.id, folder: folder, lock: lockID, python: version, built: true)
    }

    /// The host's python3, or `python3.X` when the spec pins 3.X and the host has it;
    /// a pin the host cannot meet is reported and the host's Python used.
    func hostPython(for spec: EnvironmentSpec, log: LineLog, notes: inout [String]) throws -> String {
        func find(_ name: String) -> String? { Self.find(name, in: workspace.environment) }
        guard let host = find("python3") else {
            throw StageError(reason: "environment: no python3 on PATH", detail: "install Python 3 (apt install python3 python3-venv)")
        }
        guard let pin = spec.python else { return host }
        if pythonVersion(host).hasPrefix(pin + ".") || pythonVersion(host) == pin { return host }
        if let exact = find("python" + pin) { return exact }
        let note = "the environment asks for Python \(pin); this machine has \(pythonVersion(host)), which is used instead"
        log.note("git-ml: " + note)
        notes.append(note)
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
