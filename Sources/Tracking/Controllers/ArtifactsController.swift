import Foundation
import Workspace
import Hummingbird

/// Artifacts: `artifacts/list` of the tracking API, and the artifact proxy that
/// `mlflow-artifacts:/<experiment>/<run>/artifacts/...` URIs resolve to (list, download, upload).
struct ArtifactsController<Store: TrackingBackend> {
    let store: Store

    /// The artifact path of a proxy URL, each part percent-decoded: the client sends `a%20b.txt`
    /// for `a b.txt`, and the file is stored, listed and read under its real name.
    static func decodedPath(_ context: some RequestContext) -> String {
        context.parameters.getCatchAll().map { $0.removingPercentEncoding ?? String($0) }.joined(separator: "/")
    }

    func addRoutes<Context: RequestContext>(to api: APIRoutes<Context>, router: Router<Context>) {
        let store = self.store
        api.on("artifacts/list", [.get], ListArtifactsRequest.self) { r in
            let run = try await store.run(r.run.runID)
            let folder = try artifactPath(r.path ?? "")
            let (_, entries) = try await store.listArtifacts("\(run.experimentID)/\(run.id)/artifacts/\(folder)")
            return ["root_uri": artifactURI(run), "files": entries.map(encodeArtifact)]
        }

        let proxy = router.group("/api/2.0/mlflow-artifacts/artifacts")
        proxy.get { request, _ in
            let path = try artifactPath(formQuery(request.uri)["path"] ?? "")
            let (folder, entries) = try await store.listArtifacts(path)
            // Listed relative to the folder asked for; a file names itself.
            let files = entries.map { e -> [String: Any] in
                var out = encodeArtifact(e)
                out["path"] = e.path == folder ? String(folder.split(separator: "/").last ?? "") : String(e.path.dropFirst(folder.isEmpty ? 0 : folder.count + 1))
                return out
            }
            return try json(["files": files])
        }
        proxy.get("**") { request, context in
            let (record, path, _) = try await store.artifactTarget(Self.decodedPath(context))
            let file = try await store.artifactFile(record, path: path)
            let body = try await FileIO().loadFile(path: file, context: context)
            return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: body)
        }
        proxy.put("**") { request, context in
            let (record, path, _) = try await store.artifactTarget(Self.decodedPath(context))
            let target = try await store.artifactUploadPath(record, path: path)
            // Written beside the target and renamed over it: a reader never sees half a file.
            let temporary = (target as NSString).deletingLastPathComponent + "/.gitml-upload-" + UUID().uuidString
            do {
                try await FileIO().writeFile(contents: request.body, path: temporary, context: context)
                guard rename(temporary, target) == 0 else {
                    throw MLflowError(.internalError, "cannot store artifact \(path): \(String(cString: strerror(errno)))")
                }
            } catch {
                unlink(temporary)
                throw error
            }
            return try json([:])
        }
    }
}
