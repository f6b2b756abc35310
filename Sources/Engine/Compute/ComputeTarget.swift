import Foundation
import Workspace

/// Where a resolved job runs: this machine today, a Slurm cluster later. A target
/// records the run (start, live metrics, end) in the workspace and reports through the
/// observer as it goes; it returns the final record.
public protocol ComputeTarget {
    /// The name jobs use for it (`local`).
    var name: String { get }
    func run(_ job: ResolvedJob, observer: JobObserver) throws -> RunRecord
}

/// Reports specific to jobs, beside a run's.
public protocol JobObserver: RunObserver {
    /// A stage of readying the job began (hashing inputs, building the environment).
    func stage(_ message: String)
    /// A line of an environment build's output.
    func buildOutput(_ line: String)
}
