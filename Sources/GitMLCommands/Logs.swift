import ArgumentParser
import Foundation
import Workspace

struct Logs: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print a run's output (stdout and stderr, as they were interleaved).",
        discussion: """
        Examples:
          git ml logs latest
          git ml logs 01jd8x --follow     # keep printing while the run goes on
        """)

    @Argument(help: "The run: id, id prefix, name or latest.")
    var run: String
    @Flag(name: [.short, .long], help: "Keep printing new output until the run ends.")
    var follow = false

    func run(in workspace: Workspace) throws {
        let record = try workspace.record(run)
        switch try workspace.log(of: record) {
        case .none:
            return
        case .stored(let data):
            Out.write(1, data)
        case .live(let path):
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return }
            defer { close(fd) }
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: 65536, alignment: 16)
            defer { buffer.deallocate() }
            func drain() {
                while true {
                    let n = read(fd, buffer, 65536)
                    if n <= 0 { return }
                    Out.write(1, UnsafeRawBufferPointer(start: buffer, count: n))
                }
            }
            drain()
            guard follow else { return }
            while !workspace.isLost(id: record.id, host: record.host) && FileManager.default.fileExists(atPath: path) {
                usleep(200_000)
                drain()
            }
            drain()
        }
    }
}
