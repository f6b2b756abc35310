import Foundation

/// How a model is named wherever one is named: `NAME:VERSION`, `NAME@ALIAS`, `NAME@latest`,
/// `azureml:NAME:VERSION`, `azureml:NAME@latest`, MLflow's `models:/NAME/VERSION`,
/// `models:/NAME@ALIAS` and `models:/NAME/latest`, or a bare `NAME` (its latest version).
public struct ModelReference: Sendable, Equatable, CustomStringConvertible {
    public enum Selector: Sendable, Equatable {
        case version(String)
        case alias(String)
        case latest
    }
    public var name: String
    public var selector: Selector

    public init(name: String, selector: Selector) {
        self.name = name
        self.selector = selector
    }

    /// Reads a reference; nil when the text is not one (an empty name or version).
    public static func parse(_ text: String) -> ModelReference? {
        var rest = Substring(text)
        if rest.hasPrefix("azureml:") { rest = rest.dropFirst("azureml:".count) }
        if rest.hasPrefix("models:/") {
            rest = rest.dropFirst("models:/".count)
            if let slash = rest.lastIndex(of: "/"), !rest.contains("@") {
                let name = String(rest[..<slash]), v = String(rest[rest.index(after: slash)...])
                guard !name.isEmpty, !v.isEmpty else { return nil }
                return ModelReference(name: name, selector: v == "latest" ? .latest : .version(v))
            }
        }
        if let at = rest.firstIndex(of: "@") {
            let name = String(rest[..<at]), alias = String(rest[rest.index(after: at)...])
            guard !name.isEmpty, !alias.isEmpty else { return nil }
            return ModelReference(name: name, selector: alias == "latest" ? .latest : .alias(alias))
        }
        if let colon = rest.lastIndex(of: ":") {
            let name = String(rest[..<colon]), v = String(rest[rest.index(after: colon)...])
            guard !name.isEmpty, !v.isEmpty else { return nil }
            return ModelReference(name: name, selector: .version(v))
        }
        guard !rest.isEmpty else { return nil }
        return ModelReference(name: String(rest), selector: .latest)
    }

    public var description: String {
        switch selector {
        case .version(let v): return "\(name):\(v)"
        case .alias(let a): return "\(name)@\(a)"
        case .latest: return "\(name)@latest"
        }
    }
}

/// The names a model, an alias or a tag key may take: what a git ref can hold, and what
/// Azure ML accepts for an asset name.
enum ModelNames {
    /// Letters, digits, `-`, `_` and `.`, starting with a letter or digit, at most 255
    /// characters, never `..` nor ending in `.` or `.lock` (git refuses such refs).
    static func problem(with name: String, what: String) -> String? {
        guard !name.isEmpty else { return "\(what) is empty" }
        if let bad = name.first(where: { !($0.isASCII && ($0.isLetter || $0.isNumber)) && !"-_.".contains($0) }) {
            let shown = bad == " " ? "a space" : bad.isASCII && bad.asciiValue! < 32 ? "a control character" : "'\(bad)'"
            return "\(what) '\(printable(name))' holds \(shown), which a git ref cannot hold here; use letters, digits, '-', '_' and '.'"
        }
        guard name.first!.isLetter || name.first!.isNumber else {
            return "\(what) '\(name)' must start with a letter or a digit"
        }
        if name.contains("..") { return "\(what) '\(name)' holds '..', which a git ref cannot hold" }
        if name.hasSuffix(".lock") { return "\(what) '\(name)' ends in '.lock', which a git ref cannot" }
        if name.hasSuffix(".") { return "\(what) '\(name)' ends in '.', which a git ref cannot" }
        if name.count > 255 { return "\(what) is longer than 255 characters" }
        return nil
    }

    /// Control characters shown as `?` in messages that quote what a user typed.
    static func printable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 32 || $0.value == 127 ? "?" : $0 }))
    }
}
