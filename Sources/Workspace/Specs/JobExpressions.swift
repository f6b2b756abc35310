import Foundation

/// Resolves `${{inputs.x}}` and `${{outputs.y}}` in a job's command, and drops a
/// `$[[ ... ]]` block when an optional input inside it is not given, as Azure ML
/// does. Shell `$VARS` are left alone.
public enum JobExpressions {
    /// - Parameters:
    ///   - inputs: the value each given input renders as (literal text or a local path).
    ///   - outputs: the local folder of each output.
    ///   - optional: names of inputs that may be absent.
    public static func render(_ command: String, inputs: [String: String], outputs: [String: String],
                              optional: Set<String>, file: String, line: Int) throws -> String {
        var out = ""
        var rest = Substring(command)
        while let open = rest.range(of: "$[[") {
            out += try substitute(rest[..<open.lowerBound], inputs: inputs, outputs: outputs, file: file, line: line)
            guard let close = rest[open.upperBound...].range(of: "]]") else {
                throw WorkspaceError(.badConfig, "\(file):\(line): '$[[' without its closing ']]' in command")
            }
            let block = rest[open.upperBound..<close.lowerBound]
            let referenced = references(in: block).filter { $0.kind == "inputs" }.map(\.name)
            if referenced.allSatisfy({ inputs[$0] != nil }) {
                out += try substitute(block, inputs: inputs, outputs: outputs, file: file, line: line)
            }
            rest = rest[close.upperBound...]
        }
        out += try substitute(rest, inputs: inputs, outputs: outputs, file: file, line: line)
        // A dropped block can leave doubled spaces; a command line does not care, but tidy the ends.
        return out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func references(in text: Substring) -> [(kind: String, name: String)] {
        var found: [(String, String)] = []
        var rest = text
        while let open = rest.range(of: "${{"), let close = rest[open.upperBound...].range(of: "}}") {
            let expr = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            let parts = expr.split(separator: ".", maxSplits: 1).map(String.init)
            if parts.count == 2 { found.append((parts[0], parts[1])) }
            rest = rest[close.upperBound...]
        }
        return found
    }

    static func substitute(_ text: Substring, inputs: [String: String], outputs: [String: String], file: String, line: Int) throws -> String {
        var out = ""
        var rest = text
        while let open = rest.range(of: "${{") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                throw WorkspaceError(.badConfig, "\(file):\(line): '${{' without its closing '}}' in command")
            }
            let expr = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            let parts = expr.split(separator: ".", maxSplits: 1).map(String.init)
            switch (parts.first, parts.count) {
            case ("inputs", 2):
                guard let v = inputs[parts[1]] else {
                    throw WorkspaceError(.badConfig, "\(file):\(line): the command uses ${{inputs.\(parts[1])}} but the job gives no such input",
                                         hint: "declare it under inputs:, or put it in an optional $[[ ]] block")
                }
                out += v
            case ("outputs", 2):
                guard let v = outputs[parts[1]] else {
                    throw WorkspaceError(.badConfig, "\(file):\(line): the command uses ${{outputs.\(parts[1])}} but the job declares no such output")
                }
                out += v
            default:
                throw WorkspaceError(.badConfig, "\(file):\(line): unknown expression ${{\(expr)}} in command; a command job knows ${{inputs.NAME}} and ${{outputs.NAME}}")
            }
            rest = rest[close.upperBound...]
        }
        out += rest
        return out
    }
}
