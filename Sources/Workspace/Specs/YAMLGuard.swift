import CYaml
import Foundation

/// Limits on YAML that git-ml did not write (job, environment, data and config files, data
/// pointers from git), checked on libyaml's event stream before any tree is built:
/// - a document of at most `maxBytes`, and valid UTF-8;
/// - nesting at most `maxDepth` deep (a tree is built by recursion; thousands of levels of
///   `[[[[...` would overflow the stack);
/// - at most `maxNodes` nodes once every alias is expanded (a few nested aliases, the
///   "billion laughs" document, would otherwise grow memory without bound);
/// - no key twice in one mapping (YAML says keys are unique; a parser that keeps the last one
///   silently runs something other than what the reader of the file sees).
/// Each failure is one line naming the file and line. Syntax errors are left to the parser
/// that follows, which says them with their column.
enum YAMLGuard {
    static let maxBytes = 4 << 20
    static let maxDepth = 64
    static let maxNodes = 250_000

    /// Checks raw bytes and returns them as text.
    static func text(_ data: Data, file: String) throws -> String {
        guard data.count <= maxBytes else {
            throw WorkspaceError(.badConfig, "\(file): \(data.count) bytes; git-ml reads YAML files of up to \(maxBytes >> 20) MiB",
                                 hint: "split the file or keep large values in files it names")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            var line = 1
            for piece in data.split(separator: 0x0A, omittingEmptySubsequences: false) {
                if String(data: Data(piece), encoding: .utf8) == nil { break }
                line += 1
            }
            throw WorkspaceError(.badConfig, "\(file):\(line): bytes that are not UTF-8; YAML files are read as UTF-8",
                                 hint: "save the file as UTF-8 (iconv -f LATIN1 -t UTF-8, or your editor's encoding setting)")
        }
        try check(text, file: file)
        return text
    }

    /// Checks text already decoded (curated specs, config files, pointers).
    static func check(_ text: String, file: String) throws {
        guard text.utf8.count <= maxBytes else {
            throw WorkspaceError(.badConfig, "\(file): \(text.utf8.count) bytes; git-ml reads YAML files of up to \(maxBytes >> 20) MiB")
        }
        var bytes = Array(text.utf8)
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return }
        defer { yaml_parser_delete(&parser) }
        try bytes.withUnsafeMutableBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            try walk(&parser, file: file)
        }
    }

    private struct Frame {
        var isMapping: Bool
        var expectKey = true
        var keys: [String: Int] = [:]
        var anchor: String?
        var startTotal: Int
    }

    private static func walk(_ parser: inout yaml_parser_t, file: String) throws {
        var frames: [Frame] = []
        var anchors: [String: Int] = [:]
        var total = 0
        var event = yaml_event_t()
        func fail(_ line: Int, _ message: String, hint: String? = nil) -> WorkspaceError {
            WorkspaceError(.badConfig, "\(file):\(line): \(message)", hint: hint)
        }
        func name(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            pointer.map { String(cString: UnsafePointer($0)) }
        }
        /// A node starts at `line`: it is a key or a value of the mapping it is in.
        func starts(key: String?, line: Int) throws {
            guard !frames.isEmpty, frames[frames.count - 1].isMapping else { return }
            if frames[frames.count - 1].expectKey, let key, key != "<<" {
                if let first = frames[frames.count - 1].keys[key] {
                    throw fail(line, "key '\(key.prefix(80))' appears twice in one mapping (first at line \(first)); YAML keys are unique",
                               hint: "keep one of them")
                }
                frames[frames.count - 1].keys[key] = line
            }
            frames[frames.count - 1].expectKey.toggle()
        }
        func add(_ size: Int, line: Int) throws {
            total += size
            if total > maxNodes {
                throw fail(line, "more than \(maxNodes) values once its aliases are expanded; git-ml refuses documents this large",
                           hint: "write the values out, or use fewer nested aliases")
            }
        }
        while true {
            guard yaml_parser_parse(&parser, &event) == 1 else { return }
            defer { yaml_event_delete(&event) }
            let line = Int(event.start_mark.line) + 1
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return
            case YAML_SCALAR_EVENT:
                let value = String(decoding: UnsafeBufferPointer(start: event.data.scalar.value, count: event.data.scalar.length), as: UTF8.self)
                try starts(key: value, line: line)
                try add(1, line: line)
                if let anchor = name(event.data.scalar.anchor) { anchors[anchor] = 1 }
            case YAML_ALIAS_EVENT:
                try starts(key: nil, line: line)
                try add(anchors[name(event.data.alias.anchor) ?? ""] ?? 1, line: line)
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                try starts(key: nil, line: line)
                guard frames.count < maxDepth else {
                    throw fail(line, "nested more than \(maxDepth) levels deep; git-ml refuses deeper YAML", hint: "flatten the structure")
                }
                let isMapping = event.type == YAML_MAPPING_START_EVENT
                let anchor = isMapping ? name(event.data.mapping_start.anchor) : name(event.data.sequence_start.anchor)
                try add(1, line: line)
                frames.append(Frame(isMapping: isMapping, anchor: anchor, startTotal: total - 1))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let frame = frames.popLast() else { break }
                if let anchor = frame.anchor { anchors[anchor] = total - frame.startTotal }
            case YAML_DOCUMENT_START_EVENT:
                frames.removeAll()
            default:
                break
            }
        }
    }
}
