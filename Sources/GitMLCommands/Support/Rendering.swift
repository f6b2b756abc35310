import Foundation
import Workspace

/// Plain-text tables: columns padded to the widest cell, headers dimmed; a cell longer than
/// `maxCell` is cut with an ellipsis, so one long name never widens a whole table.
struct Table {
    var headers: [String]
    var rows: [[String]] = []
    var maxCell = 48
    /// Cells are measured without colour codes.
    func render(_ term: Terminal) -> String {
        // Control characters are escaped before measuring, so an escaped name is measured as shown.
        let headers = self.headers.map { cut(Out.safe($0, keepColour: true)) }
        let rows = self.rows.map { $0.map { cut(Out.safe($0, keepColour: true)) } }
        var widths = headers.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], visibleWidth(cell)) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                i == cells.count - 1 ? c : c + String(repeating: " ", count: max(0, widths[i] - visibleWidth(c)))
            }.joined(separator: "  ")
        }
        var out = [term.dim(line(headers))]
        out += rows.map(line)
        return out.joined(separator: "\n")
    }

    /// A cell of plain text over `maxCell` characters, cut (a coloured cell is git-ml's own and short).
    func cut(_ s: String) -> String {
        guard s.count > maxCell, !s.contains("\u{1b}") else { return s }
        return String(s.prefix(maxCell - 1)) + "…"
    }

    func visibleWidth(_ s: String) -> Int {
        var n = 0
        var inEscape = false
        for ch in s.unicodeScalars {
            if inEscape { if ch == "m" { inEscape = false }; continue }
            if ch == "\u{1b}" { inEscape = true; continue }
            n += 1
        }
        return n
    }
}

enum Render {
    static let sparks = Array("▁▂▃▄▅▆▇█")

    /// A one-line chart of a series, `width` characters at most.
    static func sparkline(_ values: [Double], width: Int = 32) -> String {
        let finite = values.filter(\.isFinite)
        guard !finite.isEmpty else { return "" }
        var buckets: [Double] = []
        if values.count <= width {
            buckets = values
        } else {
            for b in 0..<width {
                let lo = b * values.count / width, hi = max(lo + 1, (b + 1) * values.count / width)
                let slice = values[lo..<hi].filter(\.isFinite)
                buckets.append(slice.isEmpty ? .nan : slice.reduce(0, +) / Double(slice.count))
            }
        }
        let lo = finite.min()!, hi = finite.max()!
        return String(buckets.map { v -> Character in
            guard v.isFinite else { return " " }
            if hi == lo { return sparks[3] }
            return sparks[min(7, Int((v - lo) / (hi - lo) * 7.999))]
        })
    }

    static func status(_ s: RunRecord.Status, _ term: Terminal, stderr: Bool = false) -> String {
        switch s {
        case .completed: return term.green(s.rawValue, stderr: stderr)
        case .failed, .lost: return term.red(s.rawValue, stderr: stderr)
        case .canceled, .stoppedByPolicy: return term.yellow(s.rawValue, stderr: stderr)
        case .running, .queued: return term.cyan(s.rawValue, stderr: stderr)
        }
    }

    /// Local time, to the second: 2026-11-29 14:20:03.
    static func time(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var parts = tm()
        localtime_r(&t, &parts)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                      Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }

    static func json<T: Encodable>(_ value: T) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(Timestamps.format(date))
        }
        return String(decoding: try e.encode(value), as: UTF8.self)
    }
}
