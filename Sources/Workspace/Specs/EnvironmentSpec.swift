import Foundation
import ObjectStore

/// An environment as git-ml realizes it: a Python version wish and a list of pip
/// requirement lines, read from an Azure ML environment YAML (`image`,
/// `conda_file`) or git-ml's short form (`python`, `pip`, `requirements`).
///
/// Its id is the SHA-256 of the normalized spec and of the files it names, so two
/// files that ask for the same thing share one built environment.
public struct EnvironmentSpec: Sendable, Equatable, Codable {
    public var name: String?
    public var version: String?
    public var description: String?
    /// `3.11`, from `python:` or a conda file's `python=3.11`; nil: the host's python3.
    public var python: String?
    /// Requirement lines as pip reads them, in order.
    public var pip: [String]
    public var image: String?
    /// SHA-256 of each file the spec names (conda file, requirements), by its path as written.
    public var files: [String: String]
    /// Things the user should know (an image that is not used, a GPU stack on CPU, skipped conda packages).
    public var warnings: [String]
    /// How a conda file became pip requirements, one line per package whose name or version
    /// syntax changed (`conda pytorch=1.13 -> pip torch==1.13.*`); nil for records made before.
    public var translations: [String]?

    enum CodingKeys: String, CodingKey { case name, version, description, python, pip, image, files, warnings, translations }

    public init(name: String? = nil, version: String? = nil, description: String? = nil, python: String? = nil, pip: [String] = [],
                image: String? = nil, files: [String: String] = [:], warnings: [String] = []) {
        self.name = name; self.version = version; self.description = description; self.python = python
        self.pip = pip; self.image = image; self.files = files; self.warnings = warnings
    }

    /// The content id: what the environment is, not what it is called.
    public var id: String {
        var canonical = "git-ml environment v1\npython " + (python ?? "host") + "\n"
        for line in pip { canonical += "pip " + line + "\n" }
        for (path, sha) in files.sorted(by: { $0.key < $1.key }) { canonical += "file " + path + " " + sha + "\n" }
        return FileHashing.sha256(Data(canonical.utf8)).hex
    }

    static let keys = ["$schema", "name", "version", "description", "image", "conda_file", "build", "tags", "os_type",
                       "inference_config", "properties", "datastore", "python", "pip", "requirements", "gpu"]

    /// Reads an environment from its YAML node. Paths (`conda_file`, `requirements`)
    /// are relative to `folder`; `file` names the YAML in errors.
    public static func parse(_ root: SpecNode, file: String, folder: String) throws -> EnvironmentSpec {
        let reader = SpecReader(file: file)
        guard case .mapping = root else {
            throw reader.fail(root.line, "an environment is a mapping (name, image, conda_file, or python and pip)")
        }
        try reader.allowed(root, keys, in: "environment")
        func string(_ key: String) throws -> String? { try reader.string(root[key], key) }
        var spec = EnvironmentSpec(name: try string("name"), version: try string("version"), description: try string("description"))
        spec.image = try string("image")
        if let build = root["build"] {
            throw reader.fail(build.line, "'build' (a Docker build context) cannot be realized without Docker",
                       hint: "describe the environment with conda_file, or python and pip")
        }
        if let python = try string("python") { spec.python = Self.pythonVersion(python) }
        if let pipNode = root["pip"] {
            switch pipNode {
            case .sequence(let items, _):
                for item in items {
                    guard case .scalar(let s, _, _) = item else { throw reader.fail(item.line, "each pip entry is a requirement line, e.g. scikit-learn==1.5.2") }
                    spec.pip.append(try spec.localRequirement(s.trimmingCharacters(in: .whitespaces), folder: folder, line: item.line, file: file))
                }
            case .null: break
            default: throw reader.fail(pipNode.line, "'pip' is a list of requirement lines")
            }
        }
        func readFile(_ key: String) throws -> (text: String, path: String)? {
            guard let path = try string(key) else { return nil }
            let absolute = path.hasPrefix("/") ? path : folder + "/" + path
            guard let data = FileManager.default.contents(atPath: absolute) else {
                throw reader.fail(root[key]!.line, "\(key) '\(path)' not found (tried \(absolute))", hint: "paths are relative to the YAML file's folder")
            }
            spec.files[path] = FileHashing.sha256(data).hex
            return (String(decoding: data, as: UTF8.self), absolute)
        }
        if let (text, absolute) = try readFile("requirements") {
            let base = String(absolute[..<absolute.lastIndex(of: "/")!])
            spec.pip += try text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.hasPrefix("#") }
                .map { try spec.localRequirement($0, folder: base, line: root["requirements"]!.line, file: file) }
        }
        if let condaNode = root["conda_file"] {
            switch condaNode {
            case .mapping:
                try spec.addConda(condaNode, file: file)
            default:
                if let (_, absolute) = try readFile("conda_file") {
                    try spec.addConda(try SpecNode.parse(FileManager.default.contents(atPath: absolute) ?? Data(), file: absolute), file: absolute)
                }
            }
        }
        if let image = spec.image {
            if root["conda_file"] != nil {
                spec.warnings.append("image \(image) is not pulled (git-ml builds a virtualenv from conda_file on the host's Python)")
            } else if root["pip"] == nil && root["requirements"] == nil {
                spec.warnings.append("image \(image) is not pulled; the job runs on the host's Python with no extra packages")
            }
        }
        if case .scalar(let s, _, _)? = root["gpu"], ["true", "True", "yes"].contains(s) {
            spec.warnings.append("this environment's GPU stack maps to a CPU build here")
        }
        return spec
    }

    /// A requirement naming a local file or folder (`./wheels/x.whl`, `../pkg`) becomes
    /// absolute, and its bytes count in the id, so a rebuilt wheel is a new environment.
    mutating func localRequirement(_ line: String, folder: String, line number: Int, file: String) throws -> String {
        guard line.hasPrefix("./") || line.hasPrefix("../") || line.hasPrefix("/") else { return line }
        let absolute = URL(fileURLWithPath: line.hasPrefix("/") ? line : folder + "/" + line).standardizedFileURL.path
        var st = stat()
        guard stat(absolute, &st) == 0 else {
            throw WorkspaceError(.badConfig, "\(file):\(number): pip requirement '\(line)' not found (tried \(absolute))",
                                 hint: "local paths are relative to the YAML file's folder")
        }
        if st.st_mode & S_IFMT == S_IFREG, let data = FileManager.default.contents(atPath: absolute) {
            files[line] = FileHashing.sha256(data).hex
        }
        return absolute
    }

    /// Conda packages that are not Python packages on PyPI under that name.
    static let condaOnly: Set<String> = ["python", "pip", "cudatoolkit", "cuda", "cudnn", "nccl", "mkl", "mkl-service", "mkl_fft", "mkl_random",
                                         "blas", "libblas", "openblas", "libgcc-ng", "libstdcxx-ng", "_libgcc_mutex", "ca-certificates",
                                         "openssl", "openmpi", "cpuonly", "libffi", "zlib", "sqlite", "tk", "xz", "readline", "ncurses",
                                         "ld_impl_linux-64", "libgomp", "intel-openmp", "pytorch-cuda", "cudatoolkit-dev"]
    /// Conda names whose PyPI package is called differently.
    static let condaRenames = ["pytorch": "torch", "pytorch-cpu": "torch", "pytorch-gpu": "torch", "py-xgboost": "xgboost",
                               "py-xgboost-cpu": "xgboost", "sklearn": "scikit-learn", "pytables": "tables", "python-graphviz": "graphviz",
                               "matplotlib-base": "matplotlib", "tensorflow-gpu": "tensorflow", "py-opencv": "opencv-python",
                               "opencv": "opencv-python", "pyqt": "PyQt5", "msgpack-python": "msgpack", "py-lightgbm": "lightgbm", "tensorboardx": "tensorboardX",
                               "typing_extensions": "typing-extensions", "numpy-base": "numpy"]

    /// Adds a conda file: its python pin, its `pip:` list, and the conda packages PyPI has.
    mutating func addConda(_ root: SpecNode, file: String) throws {
        guard case .sequence(let deps, _)? = root["dependencies"] else { return }
        var skipped: [String] = []
        for dep in deps {
            switch dep {
            case .scalar(let raw, _, _):
                var text = raw.trimmingCharacters(in: .whitespaces)
                if let colons = text.range(of: "::") { text = String(text[colons.upperBound...]) }
                let nameEnd = text.firstIndex(where: { "=<>! ~".contains($0) }) ?? text.endIndex
                let name = String(text[..<nameEnd]).lowercased()
                var versionPart = String(text[nameEnd...]).trimmingCharacters(in: .whitespaces)
                if name == "python" {
                    python = Self.pythonVersion(versionPart)
                    continue
                }
                if Self.condaOnly.contains(name) {
                    if name != "pip" { skipped.append(name) }
                    continue
                }
                // conda's `=1.21` means 1.21.*; `=1.21.2=build` pins a build pip does not know.
                if versionPart.hasPrefix("="), !versionPart.hasPrefix("==") {
                    var v = String(versionPart.dropFirst())
                    if let eq = v.firstIndex(of: "=") { v = String(v[..<eq]) }
                    versionPart = v.split(separator: ".").count >= 3 || v.contains("*") ? "==" + v : "==" + v + ".*"
                } else if !versionPart.isEmpty, versionPart.first!.isNumber {
                    versionPart = "==" + versionPart
                }
                let requirement = (Self.condaRenames[name] ?? name) + versionPart.replacingOccurrences(of: " ", with: "")
                if requirement.lowercased() != text.replacingOccurrences(of: " ", with: "").lowercased() {
                    translations = (translations ?? []) + ["conda \(raw.trimmingCharacters(in: .whitespaces)) -> pip \(requirement)"]
                }
                pip.append(requirement)
            case .mapping:
                guard case .sequence(let items, _)? = dep["pip"] else { continue }
                for item in items {
                    if case .scalar(let s, _, _) = item { pip.append(s.trimmingCharacters(in: .whitespaces)) }
                }
            default:
                continue
            }
        }
        if !skipped.isEmpty {
            warnings.append("conda packages with no PyPI equivalent are left out: \(skipped.joined(separator: ", "))")
        }
    }

    /// `3.11` from `3.11`, `=3.11.4`, `>=3.8`, `python:3.10-slim`.
    static func pythonVersion(_ text: String) -> String? {
        let digits = text.drop { !$0.isNumber }
        let parts = digits.split(whereSeparator: { !$0.isNumber }).prefix(2)
        return parts.count == 2 ? parts.joined(separator: ".") : parts.first.map(String.init)
    }

    /// The requirements file pip installs from.
    public var requirementsText: String { pip.joined(separator: "\n") + (pip.isEmpty ? "" : "\n") }
}

/// An environment a job names, resolved to its spec.
public struct ResolvedEnvironment: Sendable {
    /// How the job named it: `azureml:AzureML-sklearn-1.5@latest`, `inline`, ...
    public var reference: String
    public var spec: EnvironmentSpec
    public var id: String { spec.id }
    public init(reference: String, spec: EnvironmentSpec) { self.reference = reference; self.spec = spec }
}
