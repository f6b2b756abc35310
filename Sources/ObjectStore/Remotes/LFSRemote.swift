import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// Who to be at an LFS endpoint: asked of git's credential helpers when the server
/// answers 401. Called with the pair the server refused, the helpers forget it (and nil is returned).
public typealias LFSCredentials = @Sendable (_ url: String, _ rejected: (username: String, password: String)?) -> (username: String, password: String)?

/// An object remote that speaks the Git LFS batch API and its basic transfer
/// (`POST <url>/objects/batch`, then `PUT`/`GET` on the hrefs the server gives, and
/// `verify` when it asks), so any git host with LFS storage, giftless, or another
/// `git ml serve` keeps git-ml's objects as it keeps any LFS object: by SHA-256 oid.
public final class LFSRemote: ObjectRemote, @unchecked Sendable {
    public let url: String
    let credentials: LFSCredentials?
    let auth = Mutex<(username: String, password: String)?>(nil)
    let client = LFSRemote.sharedClient
    /// How long one request may take before it counts as dropped.
    var timeout: TimeAmount = .seconds(300)

    /// `url`: the LFS endpoint (`https://host/org/repo.git/info/lfs`, `http://HOST:PORT/lfs`).
    public init(url: String, credentials: LFSCredentials? = nil) {
        self.url = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.credentials = credentials
    }

    public var location: String { "lfs \(url)" }
    public var batchLimit: Int { 100 }
    public var parallelism: Int { 8 }

    static let mediaType = "application/vnd.git-lfs+json"

    /// One client for the process (never shut down, like `HTTPClient.shared`), that gives up
    /// on a host that refuses the connection instead of trying again until the deadline, and
    /// counts a connection silent for two minutes as dropped (the transfer then tries again).
    static let sharedClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout = .init(connect: .seconds(15), read: .seconds(120))
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    struct BatchRequest: Encodable {
        var operation: String
        var transfers = ["basic"]
        var objects: [Object]
        var hash_algo = "sha256"
        struct Object: Encodable { var oid: String; var size: Int64 }
    }

    struct BatchResponse: Decodable {
        var objects: [Object]?
        var message: String?
        struct Object: Decodable {
            var oid: String
            var size: Int64?
            var actions: [String: Action]?
            var error: ObjectError?
        }
        struct Action: Decodable {
            var href: String
            var header: [String: String]?
        }
        struct ObjectError: Decodable { var code: Int; var message: String }
    }

    public func batch(_ direction: TransferDirection, _ objects: [RemoteObject]) throws -> [ContentID: BatchAnswer] {
        let body = try JSONEncoder().encode(BatchRequest(operation: direction.rawValue,
                                                         objects: objects.map { .init(oid: $0.id.hex, size: $0.size) }))
        let (status, data) = try send(url + "/objects/batch", method: .POST,
                                      headers: ["Accept": Self.mediaType, "Content-Type": Self.mediaType], body: .bytes(body))
        guard status == 200 else { throw failure("the batch request", status: status, body: data) }
        let response: BatchResponse
        do { response = try JSONDecoder().decode(BatchResponse.self, from: data) } catch {
            throw RemoteError("\(location) answered the batch request with something that is not a Git LFS batch response: \(error)")
        }
        var out: [ContentID: BatchAnswer] = [:]
        for object in response.objects ?? [] {
            guard let id = ContentID(hex: object.oid) else { continue }
            if let e = object.error {
                out[id] = .failed("\(e.code) \(e.message)")
                continue
            }
            let name = direction == .upload ? "upload" : "download"
            guard let action = object.actions?[name] else {
                out[id] = direction == .upload ? .present : .failed("the server gave no download action")
                continue
            }
            let verify = object.actions?["verify"].map { ($0.href, $0.header ?? [:]) }
            out[id] = .transfer(TransferAction(href: action.href, headers: action.header ?? [:], verify: verify))
        }
        return out
    }

    public func upload(_ object: RemoteObject, from path: String, action: TransferAction) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw RemoteError("open \(path): \(String(cString: strerror(errno)))") }
        let file = FileBox(fd: fd)
        var headers = action.headers
        headers["Content-Type"] = headers["Content-Type"] ?? "application/octet-stream"
        let size = object.size
        let body = HTTPClient.Body.stream(contentLength: size) { writer in
            file.stream(to: writer, from: 0, size: size)
        }
        let (status, data) = try send(action.href, method: .PUT, headers: headers, body: body, authorize: action.headers["Authorization"] == nil)
        file.close()
        guard (200..<300).contains(status) else { throw failure("the upload of \(object.id.hex)", status: status, body: data) }
        if let verify = action.verify {
            let body = try JSONEncoder().encode(BatchRequest.Object(oid: object.id.hex, size: object.size))
            var headers = verify.headers
            headers["Content-Type"] = Self.mediaType
            headers["Accept"] = Self.mediaType
            let (status, data) = try send(verify.href, method: .POST, headers: headers, body: .bytes(body), authorize: verify.headers["Authorization"] == nil)
            guard (200..<300).contains(status) else { throw failure("the verification of \(object.id.hex)", status: status, body: data) }
        }
    }

    public func download(_ object: RemoteObject, to fd: Int32, path: String, from offset: Int64, action: TransferAction) throws -> Int64 {
        var headers = action.headers
        if offset > 0 { headers["Range"] = "bytes=\(offset)-" }
        let result = try authorized(action.headers["Authorization"] == nil) { () throws -> (Int, FileWriter.Outcome) in
            let request = try makeRequest(action.href, method: .GET, headers: headers, body: nil, authorize: action.headers["Authorization"] == nil)
            let delegate = FileWriter(fd: fd, path: path, offset: offset)
            let task = client.execute(request: request, delegate: delegate, deadline: .now() + timeout)
            do {
                let outcome = try task.wait()
                return (outcome.status, outcome)
            } catch let e as RemoteError { throw e } catch {
                throw RemoteError("\(location): the download of \(object.id.hex) failed: \(error)", transient: true)
            }
        }
        guard (200..<300).contains(result.status) else {
            throw failure("the download of \(object.id.hex)", status: result.status, body: Data(result.errorBody.utf8))
        }
        return result.start
    }

    // MARK: HTTP

    func makeRequest(_ href: String, method: HTTPMethod, headers: [String: String], body: HTTPClient.Body?, authorize: Bool = true) throws -> HTTPClient.Request {
        var h = HTTPHeaders()
        for (k, v) in headers { h.add(name: k, value: v) }
        if authorize, h["Authorization"].isEmpty, let (user, password) = auth.withLock({ $0 }) {
            h.add(name: "Authorization", value: "Basic " + Data("\(user):\(password)".utf8).base64EncodedString())
        }
        do { return try HTTPClient.Request(url: href, method: method, headers: h, body: body) } catch {
            throw RemoteError("\(location): \(href) is not a URL git-ml can reach (\(error))")
        }
    }

    /// One request with a whole response; on 401 asks the credential helpers once and tries again.
    func send(_ href: String, method: HTTPMethod, headers: [String: String], body: HTTPClient.Body?, authorize: Bool = true) throws -> (Int, Data) {
        try authorized(authorize) {
            let request = try makeRequest(href, method: method, headers: headers, body: body, authorize: authorize)
            let response: HTTPClient.Response
            do { response = try client.execute(request: request, deadline: .now() + timeout).wait() } catch {
                throw RemoteError("\(location) cannot be reached (\(method.rawValue) \(href)): \(error)", transient: true)
            }
            let status = Int(response.status.code)
            return (status, (status, response.body.map { Data($0.readableBytesView) } ?? Data()))
        }
    }

    /// Runs a request; when the server answers 401 to a request git-ml may authorize, the pair
    /// it refused (if any) is handed back to git's credential helpers, which forget it, the
    /// helpers are asked for one, and the request runs once more.
    func authorized<T>(_ authorize: Bool, _ perform: () throws -> (status: Int, value: T)) throws -> T {
        for attempt in 0..<2 {
            let used = auth.withLock { $0 }
            let (status, value) = try perform()
            guard status == 401 else { return value }
            guard authorize, credentials != nil, attempt == 0 else { break }
            if let used { _ = credentials?(url, used) }
            guard let found = credentials?(url, nil) else {
                auth.withLock { $0 = nil }
                throw RemoteError("\(location) asks for credentials and git's credential helpers have none; "
                    + "store them with git credential approve, or set the server's token as the password")
            }
            auth.withLock { $0 = found }
        }
        throw RemoteError("\(location) refused the credentials (HTTP 401); check what git's credential helpers hold for \(url)")
    }

    func failure(_ what: String, status: Int, body: Data) -> RemoteError {
        var message = String(decoding: body.prefix(300), as: UTF8.self)
        if let decoded = try? JSONDecoder().decode(BatchResponse.self, from: body), let m = decoded.message { message = m }
        let detail = message.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "\n", with: " ")
        return RemoteError("\(location) refused \(what): HTTP \(status)\(detail.isEmpty ? "" : " (\(detail))")",
                           transient: status >= 500 || status == 429 || status == 408)
    }
}

/// A file read in chunks into an upload's body.
final class FileBox: @unchecked Sendable {
    let fd: Int32
    init(fd: Int32) { self.fd = fd }
    func close() { Glibc.close(fd) }

    func stream(to writer: HTTPClient.Body.StreamWriter, from offset: Int64, size: Int64) -> EventLoopFuture<Void> {
        let count = Int(min(Int64(1 << 20), size - offset))
        if count <= 0 { return writer.write(.byteBuffer(ByteBuffer())) }
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { raw in
            max(0, pread(fd, raw.baseAddress!, count, off_t(offset)))
        }
        if n == 0 { return writer.write(.byteBuffer(buffer)) }
        return writer.write(.byteBuffer(buffer)).flatMap { [self] in
            offset + Int64(n) >= size ? writer.write(.byteBuffer(ByteBuffer())) : stream(to: writer, from: offset + Int64(n), size: size)
        }
    }
}

/// Writes a download's body to a file as it arrives: appended after `offset` when the
/// server honours the range (206), from the start when it sends the whole object (200).
final class FileWriter: HTTPClientResponseDelegate, @unchecked Sendable {
    struct Outcome: Sendable { var status: Int; var start: Int64; var errorBody: String }
    let fd: Int32
    let path: String
    var offset: Int64
    var status = 0
    var start: Int64 = 0
    var errorBody = ""
    var failure: Error?

    init(fd: Int32, path: String, offset: Int64) {
        self.fd = fd
        self.path = path
        self.offset = offset
    }

    func didReceiveHead(task: HTTPClient.Task<Outcome>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        status = Int(head.status.code)
        if status == 206 {
            start = offset
        } else if status == 200 {
            ftruncate(fd, 0)
            lseek(fd, 0, SEEK_SET)
            start = 0
            offset = 0
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Outcome>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        guard (200..<300).contains(status) else {
            if errorBody.utf8.count < 2000 { errorBody += String(buffer: buffer) }
            return task.eventLoop.makeSucceededVoidFuture()
        }
        let (written, error) = buffer.withUnsafeReadableBytes { writeFully(fd, $0) }
        if error != 0 {
            return task.eventLoop.makeFailedFuture(RemoteError("write \(path): \(String(cString: strerror(error)))"))
        }
        offset += Int64(written)
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didFinishRequest(task: HTTPClient.Task<Outcome>) throws -> Outcome {
        Outcome(status: status, start: start, errorBody: errorBody)
    }
}
