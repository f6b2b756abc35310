import Foundation
import Hummingbird
import ObjectStore
import Tracking

/// The Git LFS batch API and basic transfer over a repository's object store, under
/// `/lfs` (`git config lfs.url http://HOST:PORT/lfs`): the real `git-lfs` client and
/// git-ml's own `lfs` remotes push and pull through it. Objects keep their SHA-256 oid;
/// an upload is hashed before it is stored, and one whose bytes do not match is refused.
public struct LFSObjectAPI: RouteGroup {
    let store: ObjectStore
    static let mediaType = "application/vnd.git-lfs+json"

    public init(store: ObjectStore) { self.store = store }

    struct BatchRequest: Decodable {
        var operation: String
        var transfers: [String]?
        var objects: [Object]
        struct Object: Decodable { var oid: String; var size: Int64 }
    }

    public func addRoutes(to router: Router<BasicRequestContext>) {
        let lfs = router.group("/lfs")
        let store = self.store
        lfs.post("/objects/batch") { request, context -> Response in
            let body = try await request.body.collect(upTo: 16 << 20)
            guard let batch = try? JSONDecoder().decode(BatchRequest.self, from: Data(buffer: body)) else {
                return Self.error(.unprocessableContent, "the body is not a Git LFS batch request")
            }
            guard batch.operation == "upload" || batch.operation == "download" else {
                return Self.error(.unprocessableContent, "operation must be upload or download, not \(batch.operation)")
            }
            if let transfers = batch.transfers, !transfers.isEmpty, !transfers.contains("basic") {
                return Self.error(.unprocessableContent, "this server speaks the basic transfer only")
            }
            let base = Self.baseURL(request)
            var header: [String: String] = [:]
            if let auth = request.headers[.authorization] { header["Authorization"] = auth }
            var objects: [[String: Any]] = []
            for o in batch.objects {
                var out: [String: Any] = ["oid": o.oid, "size": o.size]
                guard let id = ContentID(hex: o.oid), o.size >= 0 else {
                    out["error"] = ["code": 422, "message": "not a SHA-256 oid with a size"]
                    objects.append(out)
                    continue
                }
                let present = store.has(id)
                if batch.operation == "download" {
                    if present {
                        out["authenticated"] = true
                        out["actions"] = ["download": ["href": "\(base)/lfs/objects/\(id.hex)", "header": header]]
                    } else {
                        out["error"] = ["code": 404, "message": "Object does not exist"]
                    }
                } else if !present {
                    out["authenticated"] = true
                    out["actions"] = ["upload": ["href": "\(base)/lfs/objects/\(id.hex)", "header": header],
                                      "verify": ["href": "\(base)/lfs/verify", "header": header]]
                }
                objects.append(out)
            }
            return Self.json(["transfer": "basic", "objects": objects, "hash_algo": "sha256"])
        }
        lfs.put("/objects/:oid") { request, context -> Response in
            guard let oid = context.parameters.get("oid"), let id = ContentID(hex: oid) else {
                return Self.error(.unprocessableContent, "not a SHA-256 oid")
            }
            if store.has(id) {
                // Already here: the bytes are not needed again.
                for try await _ in request.body {}
                return Response(status: .ok)
            }
            let incoming = store.root + "/incoming"
            try FileManager.default.createDirectory(atPath: incoming, withIntermediateDirectories: true)
            let temporary = incoming + "/" + UUID().uuidString
            defer { unlink(temporary) }
            try await FileIO().writeFile(contents: request.body, path: temporary, context: context)
            let (got, _) = try store.put(fileAt: temporary, consume: true)
            guard got == id else {
                return Self.error(.unprocessableContent, "the bytes sent hash to \(got.hex), not \(id.hex); nothing was stored")
            }
            return Response(status: .ok)
        }
        lfs.get("/objects/:oid") { request, context -> Response in
            guard let oid = context.parameters.get("oid"), let id = ContentID(hex: oid), store.has(id) else {
                return Self.error(.notFound, "Object does not exist")
            }
            let path = store.path(of: id)
            var st = stat()
            guard stat(path, &st) == 0 else { return Self.error(.notFound, "Object does not exist") }
            let size = Int(st.st_size)
            if let range = request.headers[.range], let start = Self.rangeStart(range), start < size, start > 0 {
                let body = try await FileIO().loadFile(path: path, range: start...(size - 1), context: context)
                return Response(status: .partialContent,
                                headers: [.contentType: "application/octet-stream", .contentRange: "bytes \(start)-\(size - 1)/\(size)"], body: body)
            }
            let body = try await FileIO().loadFile(path: path, context: context)
            return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: body)
        }
        lfs.post("/verify") { request, context -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            guard let o = try? JSONDecoder().decode(BatchRequest.Object.self, from: Data(buffer: body)), let id = ContentID(hex: o.oid) else {
                return Self.error(.unprocessableContent, "the body is not {oid, size}")
            }
            var st = stat()
            guard store.has(id), stat(store.path(of: id), &st) == 0, Int64(st.st_size) == o.size else {
                return Self.error(.notFound, "object \(o.oid) of \(o.size) bytes is not here")
            }
            return Self.json([:])
        }
        // Git LFS clients take locks only when the server offers them; this one does not.
        lfs.post("/locks/verify") { _, _ in Self.error(.notFound, "this server keeps no locks") }
    }

    /// `bytes=N-` → N.
    static func rangeStart(_ header: String) -> Int? {
        guard header.hasPrefix("bytes="), header.hasSuffix("-") else { return nil }
        return Int(header.dropFirst(6).dropLast())
    }

    static func baseURL(_ request: Request) -> String {
        let host = request.head.authority ?? "127.0.0.1"
        return "http://\(host)"
    }

    static func json(_ value: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: mediaType], body: ResponseBody(byteBuffer: ByteBuffer(data: data)))
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        json(["message": message, "documentation_url": "https://github.com/git-lfs/git-lfs/blob/main/docs/api/batch.md"], status: status)
    }
}
