import Foundation
import ObjectStore
import Workspace

/// Writes the plain values the API answers with ([String: Any] of strings, numbers, bools,
/// arrays, dictionaries, NSNull) as JSON bytes, keys sorted. Foundation's serializer spends
/// most of a large search's time on Linux; this one is linear and allocation-light.
struct JSONWriter {
    var out: [UInt8] = []

    static func encode(_ value: Any) -> [UInt8] {
        var w = JSONWriter()
        w.out.reserveCapacity(4096)
        w.write(value)
        return w.out
    }

    mutating func write(_ value: Any) {
        let type = Swift.type(of: value)
        if type == String.self, let s = value as? String {
            string(s)
        } else if type == Bool.self, let b = value as? Bool {
            out += b ? Array("true".utf8) : Array("false".utf8)
        } else if type == Int.self, let i = value as? Int {
            out += Array(String(i).utf8)
        } else if type == Int64.self, let i = value as? Int64 {
            out += Array(String(i).utf8)
        } else if type == Int32.self, let i = value as? Int32 {
            out += Array(String(i).utf8)
        } else if type == Double.self, let d = value as? Double {
            number(d)
        } else if let dict = value as? [String: Any] {
            out.append(0x7B)
            for (i, key) in dict.keys.sorted().enumerated() {
                if i > 0 { out.append(0x2C) }
                string(key)
                out.append(0x3A)
                write(dict[key]!)
            }
            out.append(0x7D)
        } else if let list = value as? [Any] {
            out.append(0x5B)
            for (i, item) in list.enumerated() {
                if i > 0 { out.append(0x2C) }
                write(item)
            }
            out.append(0x5D)
        } else if value is NSNull {
            out += Array("null".utf8)
        } else if let n = value as? NSNumber {
            // Numbers read back by JSONSerialization (a dataset input kept in a tag).
            if String(cString: n.objCType) == "c" { out += n.boolValue ? Array("true".utf8) : Array("false".utf8) }
            else if n.doubleValue == n.doubleValue.rounded(), abs(n.doubleValue) < 1e15 { out += Array(String(n.int64Value).utf8) }
            else { number(n.doubleValue) }
        } else if let s = value as? String {
            string(s)
        } else {
            string(String(describing: value))
        }
    }

    mutating func number(_ d: Double) {
        // Non-finite values are sent as MLflow sends them, as strings.
        out += Array(MetricsParser.number(d).utf8)
    }

    mutating func string(_ s: String) { JSONText.appendString(s, to: &out) }
}
