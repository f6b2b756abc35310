import ArgumentParser
import Foundation
import Workspace

struct Metrics: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Show a run's metric series: a table with a sparkline per metric, or one series in full.",
        discussion: """
        Examples:
          git ml metrics latest
          git ml metrics latest --key loss
          git ml metrics latest --json
        """)

    @Argument(help: "The run: id, id prefix, name or latest.")
    var run: String
    @Option(name: .long, help: "Print every point of this metric.")
    var key: String?
    @OptionGroup var output: JSONOption

    struct Point: Encodable { var key: String; var value: Double; var step: Int; var timestamp: Int64 }

    func run(in workspace: Workspace) throws {
        let record = try workspace.record(run)
        var points = try workspace.metricSeries(of: record)
        if let key {
            points = points.filter { $0.key == key }
            if points.isEmpty {
                throw WorkspaceError(.invalidArgument, "run \(record.id) has no metric '\(key)'; it has: \(Set(record.metrics.keys).sorted().joined(separator: ", "))")
            }
        }
        if output.json {
            Out.print(try Render.json(points.map { Point(key: $0.key, value: $0.value, step: $0.step, timestamp: $0.timestamp) }))
            return
        }
        let t = Terminal.current
        if points.isEmpty { Out.print(t.dim("run \(record.id) logged no metrics")); return }
        if let key {
            var table = Table(headers: ["STEP", key.uppercased(), "TIME"])
            for p in points {
                table.rows.append([String(p.step), RunFormatting.number(p.value), Render.time(Date(timeIntervalSince1970: Double(p.timestamp) / 1000))])
            }
            Out.print(table.render(t))
            return
        }
        var order: [String] = []
        var series: [String: [MetricPoint]] = [:]
        for p in points {
            if series[p.key] == nil { order.append(p.key) }
            series[p.key, default: []].append(p)
        }
        var table = Table(headers: ["METRIC", "STEPS", "FIRST", "LAST", "MIN", "MAX", "SERIES"])
        for k in order {
            let values = series[k]!.map(\.value)
            table.rows.append([k, String(values.count), RunFormatting.number(values.first!), t.bold(RunFormatting.number(values.last!)),
                               RunFormatting.number(values.min()!), RunFormatting.number(values.max()!), t.cyan(Render.sparkline(values))])
        }
        Out.print(table.render(t))
    }
}
