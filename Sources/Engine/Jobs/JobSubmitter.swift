import Foundation
import Workspace

/// What `git ml run` submits: a command line, or a job file.
public enum JobSubmission: Sendable {
    case command(RunRequest)
    case file(JobRequest)
}

/// The one entry into the engine for running something: reads a job file's type,
/// resolves the job and runs it on a compute target (this machine unless told otherwise).
public struct JobSubmitter {
    let workspace: Workspace
    let target: any ComputeTarget

    public init(workspace: Workspace, target: (any ComputeTarget)? = nil) {
        self.workspace = workspace
        self.target = target ?? LocalCompute(workspace: workspace)
    }

    /// Runs a command line or a job file; a sweep reports through `sweeps` (its trials run
    /// side by side, so their output goes to their logs, not the terminal).
    public func submit(_ submission: JobSubmission, observer: JobObserver, sweeps: SweepObserver? = nil) throws -> RunRecord {
        switch submission {
        case .command(let request):
            return try target.run(ResolvedJob(run: request), observer: observer)
        case .file(let request):
            let file = try workspace.readJobFile(request.file, overrides: request.overrides)
            switch file.type {
            case .command:
                let job = try JobResolver(workspace: workspace).resolve(try workspace.planJob(file), request: request)
                return try target.run(job, observer: observer)
            case .sweep:
                guard let sweeps else { throw WorkspaceError(.invalidArgument, "\(file.shown): a sweep job needs a sweep observer") }
                return try SweepRunner(workspace: workspace).run(file, request: request, observer: sweeps)
            case .pipeline:
                throw WorkspaceError(.badConfig, "\(file.shown):\(file.typeLine): type: pipeline jobs are not supported by git-ml yet; git ml run -f runs command and sweep jobs",
                                     hint: "run each step as a command job for now")
            }
        }
    }
}
