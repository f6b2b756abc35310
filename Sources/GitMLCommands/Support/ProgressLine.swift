import Foundation
import ObjectStore
import Synchronization
import Workspace

/// A progress bar on stderr for hashing and copying, redrawn at most ten times a second.
final class ProgressLine: Sendable {
    let label: String
    let last = Mutex<Double>(0)
    init(label: String) { self.label = label }

    func update(_ p: StoreProgress) {
        let now = Date().timeIntervalSince1970
        let done = p.filesDone == p.filesTotal
        guard last.withLock({ l -> Bool in
            guard done || now - l > 0.1 else { return false }
            l = now
            return true
        }) else { return }
        let fraction = p.bytesTotal > 0 ? Double(p.bytesDone) / Double(p.bytesTotal) : Double(p.filesDone) / Double(max(1, p.filesTotal))
        let filled = Int(fraction * 30)
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: 30 - filled)
        Out.write(2, "\rgit-ml: \(label) \(bar) \(RunFormatting.bytes(p.bytesDone))/\(RunFormatting.bytes(p.bytesTotal)) \(p.filesDone)/\(p.filesTotal) files" + (done ? "\n" : ""))
    }
}
