import Foundation

/// A run search filter in MLflow's syntax (`metrics.acc > 0.9 and params.model = 'cnn'`),
/// with `OR` and parentheses besides: `AND` binds tighter than `OR`.
///
/// Columns: `metrics.<key>` (or `metric.`), `params.<key>` (`param.`, `parameters.`),
/// `tags.<key>` (`tag.`), `attributes.<name>` (`attribute.`, `attr.`, `run.`) with
/// `run_id`, `run_name`, `status`, `user_id`, `start_time`, `end_time`,
/// `lifecycle_stage`, `experiment_id`, and git-ml's own `commit`, `dirty`, `host`, `kind`.
/// A key with other characters is quoted with backticks or double quotes
/// (`metrics.`val loss``). Operators: `= != < <= > >=` on numbers;
/// `= != LIKE ILIKE IN NOT IN` on strings.
public indirect enum SearchFilter: Sendable, Equatable {
    case comparison(Comparison)
    case and(SearchFilter, SearchFilter)
    case or(SearchFilter, SearchFilter)

    public enum Entity: String, Sendable { case metric, param, tag, attribute }

    public struct Column: Sendable, Equatable, Hashable {
        public var entity: Entity
        public var key: String
    }

    public enum Value: Sendable, Equatable {
        case number(Double)
        case string(String)
        case list([String])
    }

    public struct Comparison: Sendable, Equatable {
        public var column: Column
        /// Upper case: `=`, `!=`, `<`, `<=`, `>`, `>=`, `LIKE`, `ILIKE`, `IN`, `NOT IN`.
        public var op: String
        public var value: Value
    }

    /// Attributes and whether they compare as numbers.
    public static let attributes: [String: Bool] = [
        "run_id": false, "run_name": false, "status": false, "user_id": false, "lifecycle_stage": false,
        "experiment_id": false, "commit": false, "host": false, "kind": false, "parent": false,
        "start_time": true, "end_time": true, "dirty": true,
    ]

    /// Parses a filter; an empty one is nil. Errors name the 1-based column.
    public static func parse(_ text: String) throws -> SearchFilter? {
        var parser = FilterParser(text)
        return try parser.parseAll()
    }
}

/// An ordering clause: `metrics.acc DESC`, `attributes.start_time`, `params.lr ASC`.
public struct SearchOrder: Sendable, Equatable {
    public var column: SearchFilter.Column
    public var descending: Bool

    public static func parse(_ text: String) throws -> SearchOrder {
        var parser = FilterParser(text)
        parser.skipSpace()
        let column = try parser.parseColumn()
        parser.skipSpace()
        var descending = false
        if let word = parser.peekWord() {
            switch word.uppercased() {
            case "DESC": descending = true; parser.advance(word.count)
            case "ASC": parser.advance(word.count)
            default: throw parser.error("expected ASC or DESC after \(column.entity.rawValue)s.\(column.key), got '\(word)'")
            }
        }
        parser.skipSpace()
        guard parser.atEnd else { throw parser.error("unexpected '\(parser.rest.prefix(20))' after the ordering") }
        return SearchOrder(column: column, descending: descending)
    }
}

/// A bad filter or ordering: the message names the column (1-based) where it went wrong.
public struct SearchFilterError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var column: Int
    public var text: String
    public var description: String { "invalid filter at column \(column): \(message) (in: \(text))" }
}

struct FilterParser {
    let chars: [Character]
    let text: String
    var i = 0

    init(_ text: String) { self.text = text; chars = Array(text) }

    var atEnd: Bool { i >= chars.count }
    var rest: String { String(chars[min(i, chars.count)...]) }

    func error(_ message: String, at position: Int? = nil) -> SearchFilterError {
        SearchFilterError(message: message, column: (position ?? i) + 1, text: text)
    }

    mutating func skipSpace() { while i < chars.count, chars[i].isWhitespace { i += 1 } }
    mutating func advance(_ n: Int) { i += n }

    func peekWord() -> String? {
        var j = i
        while j < chars.count, chars[j].isLetter || chars[j] == "_" { j += 1 }
        return j > i ? String(chars[i..<j]) : nil
    }

    mutating func keyword(_ word: String) -> Bool {
        guard let w = peekWord(), w.uppercased() == word else { return false }
        i += w.count
        return true
    }

    mutating func parseAll() throws -> SearchFilter? {
        skipSpace()
        if atEnd { return nil }
        let f = try parseOr()
        skipSpace()
        guard atEnd else {
            if chars[i] == ")" { throw error("unbalanced ')'") }
            throw error("expected AND, OR or the end of the filter, got '\(rest.prefix(20))'")
        }
        return f
    }

    mutating func parseOr() throws -> SearchFilter { try chain("OR", SearchFilter.or) { try $0.parseAnd() } }

    mutating func parseAnd() throws -> SearchFilter { try chain("AND", SearchFilter.and) { try $0.parsePrimary() } }

    /// `operand (KEYWORD operand)*`, joined from the left.
    mutating func chain(_ word: String, _ join: (SearchFilter, SearchFilter) -> SearchFilter,
                        _ operand: (inout FilterParser) throws -> SearchFilter) throws -> SearchFilter {
        var left = try operand(&self)
        while true {
            skipSpace()
            guard keyword(word) else { return left }
            left = join(left, try operand(&self))
        }
    }

    mutating func parsePrimary() throws -> SearchFilter {
        skipSpace()
        guard !atEnd else { throw error("expected a comparison such as metrics.acc > 0.9, got the end of the filter") }
        if chars[i] == "(" {
            let open = i
            i += 1
            let inner = try parseOr()
            skipSpace()
            guard !atEnd, chars[i] == ")" else { throw error("the '(' at column \(open + 1) is not closed") }
            i += 1
            return inner
        }
        return .comparison(try parseComparison())
    }

    mutating func parseColumn() throws -> SearchFilter.Column {
        let start = i
        guard let prefix = peekWord() else { throw error("expected a column such as metrics.acc, params.lr, tags.team or attributes.status") }
        let entity: SearchFilter.Entity
        switch prefix.lowercased() {
        case "metric", "metrics": entity = .metric
        case "param", "params", "parameter", "parameters": entity = .param
        case "tag", "tags": entity = .tag
        case "attribute", "attributes", "attr", "run": entity = .attribute
        default:
            throw error("unknown column '\(prefix)': columns start with metrics., params., tags. or attributes.", at: start)
        }
        i += prefix.count
        guard !atEnd, chars[i] == "." else { throw error("expected '.' and a key after '\(prefix)'") }
        i += 1
        let keyStart = i
        var key = ""
        if !atEnd, chars[i] == "`" || chars[i] == "\"" {
            let quote = chars[i]
            i += 1
            while i < chars.count, chars[i] != quote { key.append(chars[i]); i += 1 }
            guard !atEnd else { throw error("the quoted key at column \(keyStart + 1) is not closed", at: keyStart) }
            i += 1
        } else {
            while i < chars.count, chars[i].isLetter || chars[i].isNumber || "_-./:".contains(chars[i]) { key.append(chars[i]); i += 1 }
        }
        guard !key.isEmpty else { throw error("expected a key after '\(prefix).'", at: keyStart) }
        if entity == .attribute {
            let aliases = ["name": "run_name", "id": "run_id", "user": "user_id", "run_uuid": "run_id"]
            key = aliases[key] ?? key
            guard SearchFilter.attributes[key] != nil else {
                throw error("unknown attribute '\(key)'; known: \(SearchFilter.attributes.keys.sorted().joined(separator: ", "))", at: keyStart)
            }
        }
        return SearchFilter.Column(entity: entity, key: key)
    }

    mutating func parseComparison() throws -> SearchFilter.Comparison {
        let column = try parseColumn()
        skipSpace()
        let opStart = i
        var op = ""
        if let w = peekWord()?.uppercased(), ["LIKE", "ILIKE", "IN", "NOT"].contains(w) {
            i += w.count
            op = w
            if w == "NOT" {
                skipSpace()
                guard keyword("IN") else { throw error("expected IN after NOT") }
                op = "NOT IN"
            }
        } else {
            for candidate in ["!=", "<=", ">=", "=", "<", ">"] where rest.hasPrefix(candidate) {
                op = candidate
                i += candidate.count
                break
            }
        }
        guard !op.isEmpty else {
            throw error("expected an operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN) after \(column.entity.rawValue)s.\(column.key)", at: opStart)
        }
        let numeric = column.entity == .metric || (column.entity == .attribute && SearchFilter.attributes[column.key] == true)
        if numeric, ["LIKE", "ILIKE", "IN", "NOT IN"].contains(op) {
            throw error("\(op) compares strings; \(column.entity.rawValue)s.\(column.key) is a number", at: opStart)
        }
        if !numeric, ["<", "<=", ">", ">="].contains(op) {
            throw error("\(op) compares numbers; \(column.entity.rawValue)s.\(column.key) is a string (use =, !=, LIKE, ILIKE or IN)", at: opStart)
        }
        skipSpace()
        let valueStart = i
        let value: SearchFilter.Value
        if op == "IN" || op == "NOT IN" {
            guard !atEnd, chars[i] == "(" else { throw error("expected '(' and a list of quoted strings after \(op)") }
            i += 1
            var items: [String] = []
            while true {
                skipSpace()
                items.append(try parseString())
                skipSpace()
                guard !atEnd else { throw error("the list at column \(valueStart + 1) is not closed") }
                if chars[i] == "," { i += 1; continue }
                if chars[i] == ")" { i += 1; break }
                throw error("expected ',' or ')' in the list")
            }
            value = .list(items)
        } else if numeric {
            var j = i
            while j < chars.count, chars[j].isNumber || "+-.eE".contains(chars[j]) { j += 1 }
            guard j > i, let n = Double(String(chars[i..<j])) else {
                throw error("expected a number after \(op), got '\(rest.prefix(20))'", at: valueStart)
            }
            i = j
            value = .number(n)
        } else {
            value = .string(try parseString())
        }
        return SearchFilter.Comparison(column: column, op: op, value: value)
    }

    mutating func parseString() throws -> String {
        guard !atEnd, chars[i] == "'" || chars[i] == "\"" else {
            throw error("expected a quoted string such as 'value', got '\(rest.prefix(20))'")
        }
        let quote = chars[i], start = i
        i += 1
        var out = ""
        while i < chars.count {
            if chars[i] == quote {
                // A doubled quote stands for itself, as in SQL.
                if i + 1 < chars.count, chars[i + 1] == quote { out.append(quote); i += 2; continue }
                i += 1
                return out
            }
            out.append(chars[i])
            i += 1
        }
        throw error("the string at column \(start + 1) is not closed", at: start)
    }
}
