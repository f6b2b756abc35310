import Foundation

/// How output looks: colour only on a terminal and never with NO_COLOR set.
struct Terminal: Sendable {
    let stdoutIsTTY: Bool
    let stderrIsTTY: Bool
    let color: Bool
    let width: Int

    static let current: Terminal = {
        let env = ProcessInfo.processInfo.environment
        let outTTY = isatty(1) == 1
        let errTTY = isatty(2) == 1
        let color = outTTY && env["NO_COLOR"] == nil && env["TERM"] != "dumb"
        var size = winsize()
        let width = ioctl(1, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 120
        return Terminal(stdoutIsTTY: outTTY, stderrIsTTY: errTTY, color: color, width: width)
    }()

    /// Colour for stderr (progress, live metrics).
    var errColor: Bool { stderrIsTTY && ProcessInfo.processInfo.environment["NO_COLOR"] == nil && ProcessInfo.processInfo.environment["TERM"] != "dumb" }

    func paint(_ text: String, _ code: String, stderr: Bool = false) -> String {
        (stderr ? errColor : color) ? "\u{1b}[\(code)m\(text)\u{1b}[0m" : text
    }
    func bold(_ t: String, stderr: Bool = false) -> String { paint(t, "1", stderr: stderr) }
    func dim(_ t: String, stderr: Bool = false) -> String { paint(t, "2", stderr: stderr) }
    func green(_ t: String, stderr: Bool = false) -> String { paint(t, "32", stderr: stderr) }
    func red(_ t: String, stderr: Bool = false) -> String { paint(t, "31", stderr: stderr) }
    func yellow(_ t: String, stderr: Bool = false) -> String { paint(t, "33", stderr: stderr) }
    func cyan(_ t: String, stderr: Bool = false) -> String { paint(t, "36", stderr: stderr) }
}

/// Writes to stdout / stderr without Foundation buffering surprises.
///
/// `print` and `error` write lines for people: a control character in them (from a run name,
/// a tag, a metric key, an error naming one) is shown escaped, `\u{1b}`, never sent to the
/// terminal, so no record can clear or retitle it. Only git-ml's own colours pass, and only
/// where colour is on. `write` is for bytes that are meant raw (a run's log, a diff, redraws).
enum Out {
    static func print(_ text: String) { write(1, safe(text + "\n", keepColour: Terminal.current.color)) }
    static func error(_ text: String) { write(2, safe(text + "\n", keepColour: Terminal.current.errColor)) }

    /// `text` with every control character but newline and tab escaped; with `keepColour`,
    /// colour sequences (ESC [ digits and ; m) stay.
    static func safe(_ text: String, keepColour: Bool) -> String {
        // Unicode's control characters (Cc): U+0000-001F and U+007F-009F.
        func isControl(_ s: Unicode.Scalar) -> Bool { (s.value < 0x20 || (0x7F...0x9F).contains(s.value)) && s != "\n" && s != "\t" }
        // Most text holds none: a byte scan (C0 but newline and tab, DEL, C1 as 0xC2 0x80-0x9F)
        // passes it on as it is, at memory speed, for a listing of ten thousand runs too.
        var text = text
        let clean = text.withUTF8 { bytes -> Bool in
            var previous: UInt8 = 0
            for b in bytes {
                if b < 0x20 && b != 0x0A && b != 0x09 { return false }
                if b == 0x7F || (previous == 0xC2 && b >= 0x80 && b <= 0x9F) { return false }
                previous = b
            }
            return true
        }
        if clean { return text }
        var out = String.UnicodeScalarView()
        let scalars = Array(text.unicodeScalars)
        var i = 0
        while i < scalars.count {
            let s = scalars[i]
            if keepColour, s == "\u{1b}", i + 1 < scalars.count, scalars[i + 1] == "[" {
                var j = i + 2
                while j < scalars.count, ("0"..."9").contains(scalars[j]) || scalars[j] == ";" { j += 1 }
                if j < scalars.count, scalars[j] == "m" {
                    out.append(contentsOf: scalars[i...j])
                    i = j + 1
                    continue
                }
            }
            if isControl(s) {
                out.append(contentsOf: "\\u{\(String(s.value, radix: 16))}".unicodeScalars)
            } else {
                out.append(s)
            }
            i += 1
        }
        return String(out)
    }
    static func write(_ fd: Int32, _ text: String) {
        var t = text
        t.withUTF8 { Self.write(fd, UnsafeRawBufferPointer($0)) }
    }
    static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            let n = Foundation.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 { if errno == EINTR { continue }; return }
            offset += n
        }
    }
    static func write(_ fd: Int32, _ data: Data) { data.withUnsafeBytes { write(fd, $0) } }
}
