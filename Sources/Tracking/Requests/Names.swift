import Foundation

/// MLflow's rules for the keys of metrics, params and tags, checked before anything is
/// recorded: what MLflow's own server refuses is refused here, with its wording, so a key
/// that no MLflow client would send (empty, 251 characters, a NUL or an escape sequence)
/// never reaches a record, a terminal or the query index.
enum MLflowNames {
    /// MLflow's `MAX_ENTITY_KEY_LENGTH`.
    static let maxKeyLength = 250
    /// MLflow's `MAX_PARAM_VAL_LENGTH` and `MAX_TAG_VAL_LENGTH`.
    static let maxParamValueLength = 6000
    static let maxTagValueLength = 8000

    /// Letters and digits (any script), `_`, `-`, `.`, space, `:` and `/`; not empty, not an
    /// absolute path, no `..` part.
    static func validate(_ key: String, kind: String) throws {
        guard !key.isEmpty else {
            throw MLflowError(.invalidParameterValue, "Invalid \(kind) name: ''. Names must not be empty")
        }
        guard key.count <= maxKeyLength else {
            throw MLflowError(.invalidParameterValue, "\(kind.capitalized) name '\(key.prefix(40))...' had length \(key.count), which exceeded length limit of \(maxKeyLength)")
        }
        let allowed = key.unicodeScalars.allSatisfy { s in
            s.properties.isAlphabetic || s.properties.numericType != nil || "_-. :/".unicodeScalars.contains(s)
        }
        guard allowed, !key.hasPrefix("/"), !key.split(separator: "/").contains("..") else {
            throw MLflowError(.invalidParameterValue, "Invalid \(kind) name: '\(escaped(key))'. Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).")
        }
    }

    static func validateValue(_ value: String, kind: String, key: String, limit: Int) throws {
        guard value.count <= limit else {
            throw MLflowError(.invalidParameterValue, "\(kind.capitalized) '\(key)' had a value of length \(value.count), which exceeded length limit of \(limit)")
        }
    }

    /// A key as it can be shown in an error: control characters as `\u{..}`.
    static func escaped(_ key: String) -> String {
        String(key.prefix(80).unicodeScalars.map { $0.properties.generalCategory == .control ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined())
    }
}

/// Python's json module writes `NaN`, `Infinity` and `-Infinity` as bare tokens, and MLflow's
/// server reads them; standard JSON has no such tokens. Outside strings they become the
/// strings MLflow's protobuf JSON uses (`"NaN"`), which a metric's value accepts.
enum NonFiniteTokens {
    static func quote(_ body: Data) -> Data {
        let tokens: [[UInt8]] = [Array("-Infinity".utf8), Array("Infinity".utf8), Array("NaN".utf8)]
        // Most bodies have none of them: nothing is copied then.
        guard body.contains(UInt8(ascii: "N")) || body.contains(UInt8(ascii: "I")) else { return body }
        var out = [UInt8]()
        out.reserveCapacity(body.count + 16)
        var inString = false, escaped = false, changed = false
        let bytes = [UInt8](body)
        var i = 0
        outer: while i < bytes.count {
            let b = bytes[i]
            if inString {
                out.append(b)
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
                i += 1
                continue
            }
            if b == UInt8(ascii: "\"") { inString = true; out.append(b); i += 1; continue }
            for token in tokens where bytes.count - i >= token.count && Array(bytes[i..<i + token.count]) == token {
                out.append(UInt8(ascii: "\""))
                out += token
                out.append(UInt8(ascii: "\""))
                i += token.count
                changed = true
                continue outer
            }
            out.append(b)
            i += 1
        }
        return changed ? Data(out) : body
    }
}
