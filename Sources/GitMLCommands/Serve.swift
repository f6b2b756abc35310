import ArgumentParser
import Foundation
import Server
import Workspace

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the MLflow tracking API over this repository's runs.",
        discussion: """
        It listens on loopback unless a token is set: with GITML_SERVE_TOKEN in the environment, any --host is allowed and every request needs `Authorization: Bearer <token>`, which the mlflow client sends from MLFLOW_TRACKING_TOKEN. On loopback, web pages the user visits are kept out: a request must name a loopback host (or one listed in GITML_SERVE_HOSTS), and a request that changes anything is refused when it comes from a foreign Origin or carries a body a page can send without asking (text/plain, a form).

        Clients that speak MLflow's REST API (the mlflow Python client with MLFLOW_TRACKING_URI set, a notebook, MlflowClient) create and log runs that become git-ml run records tied to HEAD, and can read every run git-ml recorded. Ctrl-C stops the server; runs it started and did not end are recorded as lost.

        Examples:
          git ml serve
          git ml serve --port 5001
          GITML_SERVE_TOKEN=s3cret git ml serve --host 0.0.0.0
          MLFLOW_TRACKING_URI=http://127.0.0.1:5000 python train.py
        """)

    @Option(name: .long, help: "The address to listen on (another than loopback needs GITML_SERVE_TOKEN).")
    var host = "127.0.0.1"
    @Option(name: .long, help: "The port (0: any free port, printed on start).")
    var port = 5000

    var token: String? { ProcessInfo.processInfo.environment["GITML_SERVE_TOKEN"].flatMap { $0.isEmpty ? nil : $0 } }

    func validate() throws {
        guard ["127.0.0.1", "localhost", "::1"].contains(host) || token != nil else {
            throw ValidationError("--host \(host): listening beyond loopback needs a token; set GITML_SERVE_TOKEN (clients send it as MLFLOW_TRACKING_TOKEN)")
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port \(port): not a port number") }
    }

    func run() throws {
        let host = self.host
        do {
            try StandaloneServer.run(directory: FileManager.default.currentDirectoryPath, environment: ProcessInfo.processInfo.environment,
                                     host: host, port: port, token: token) { url in
                Out.error("git-ml: serving the MLflow tracking API at \(url) (MLFLOW_TRACKING_URI)")
            }
        } catch let e as WorkspaceError {
            Out.error("git-ml: \(e.message)" + (e.hint.map { "; \($0)" } ?? ""))
            throw ExitCode(e.exitCode)
        } catch {
            Out.error("git-ml: \(error)")
            throw ExitCode(1)
        }
    }
}
