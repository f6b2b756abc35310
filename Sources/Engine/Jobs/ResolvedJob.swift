import Foundation
import Workspace

/// A job with everything decided before it runs: the run it becomes (its id, names,
/// rendered command and the paths in its live folder), the part of the code snapshot it
/// runs in, the data it reads, its environment and its processes.
///
/// It needs no job file: a command line, a command job file, and later a sweep's trial,
/// a pipeline's step or a batch mini-batch all become one, and any `ComputeTarget` runs it.
public struct ResolvedJob: Sendable {
    /// A data input and where the job reads it.
    public struct Input: Sendable {
        public var name: String
        public var source: JobPlan.DataSource
        /// The absolute path the command was given for it.
        public var target: String
        public init(name: String, source: JobPlan.DataSource, target: String) {
            self.name = name; self.source = source; self.target = target
        }
    }

    /// The run as it is recorded: id, names, tags, params, command, working directory,
    /// declared inputs, the outputs collected at the end.
    public var run: RunRequest
    /// The folder the job runs in, made before it starts, holding `./outputs` and `./logs`
    /// (a job's copy of its code); nil: the command runs where it was started, in place.
    public var workFolder: String?
    /// The part of the run's code snapshot copied into `workFolder` ("" for the top);
    /// nil: an empty folder, as Azure gives a job without `code`.
    public var code: String?
    /// Data handed over read-only before the start, hashed into the store first.
    public var inputs: [Input] = []
    /// Further folders made before the start (named outputs, per-process logs).
    public var folders: [String] = []
    public var environment: ResolvedEnvironment?
    /// Variables the job sets for its command (`environment_variables`).
    public var variables: [String: String] = [:]
    /// One process, or one per rank of a distributed job.
    public var processes: [LaunchPlan.Process] = [LaunchPlan.Process()]
    public var timeoutSeconds: Int?
    /// Asked while the job runs (about once a second and after each metric report): a
    /// reason stops it (a sweep's early-termination policy, the sweep's own time limit).
    public var stopRequest: (@Sendable () -> StopRequest?)?
    /// A folder removed when the run ends (the job's live copy of code, inputs and outputs).
    public var scratch: String?

    public init(run: RunRequest) { self.run = run }

    /// True when nothing but the command itself needs readying.
    var runsInPlace: Bool { workFolder == nil && inputs.isEmpty && environment == nil && folders.isEmpty && variables.isEmpty && stopRequest == nil }
}
