import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The tracking server of one `git ml run`, on a free port of 127.0.0.1 (`git ml serve`
/// runs the same router in the foreground, see StandaloneServer).
///
/// It costs a run next to nothing until its command calls it: the socket listens from the
/// start, so the port is known and connections queue in the kernel, but the HTTP server
/// (the router, the tracking store, SwiftNIO's event loop) is built only when the first
/// connection arrives. One thread accepts, and hands each connection to SwiftNIO; when
/// the run stops, it takes every connection still queued before it closes the socket, so
/// a request sent by a command that exited without waiting for the answer is recorded.
public final class TrackingServer: Sendable {
    public let port: Int
    public let host = "127.0.0.1"

    /// The URL clients use (MLFLOW_TRACKING_URI).
    public var url: String { "http://\(host):\(port)" }

    let listener: Int32
    /// Written by `stop` to wake the accepting thread.
    let wake: (read: Int32, write: Int32)
    let stopping = Atomic<Bool>(false)
    /// Signalled when the accepting thread has closed the socket.
    let acceptorDone = DispatchSemaphore(value: 0)
    /// Connections handed to SwiftNIO and not finished yet; `idle` is signalled when it drops to 0.
    let open = Mutex<Int>(0)
    let idle = DispatchSemaphore(value: 0)
    /// The open connections' channels, closed by `stop` when a client keeps one open too long.
    let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    init(listener: Int32, port: Int, wake: (Int32, Int32)) {
        self.listener = listener
        self.port = port
        self.wake = wake
    }

    /// Listens on a free port of 127.0.0.1 and returns at once; `store` is called on the
    /// first connection, and `warn` hears why when it fails. Throws when no socket can be had.
    public static func listen(token: String? = nil, warn: @escaping @Sendable (String) -> Void,
                              store makeStore: @escaping @Sendable () throws -> TrackingStore) throws -> TrackingServer {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw TrackingServerError(message: "cannot open a socket for the tracking server: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && Glibc.listen(fd, 256) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        var pipeFDs: [Int32] = [-1, -1]
        guard bound, pipe(&pipeFDs) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw TrackingServerError(message: "cannot listen on 127.0.0.1 for the tracking server: \(message)")
        }
        _ = fcntl(pipeFDs[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(pipeFDs[1], F_SETFD, FD_CLOEXEC)
        let server = TrackingServer(listener: fd, port: Int(UInt16(bigEndian: address.sin_port)), wake: (pipeFDs[0], pipeFDs[1]))
        let thread = Thread { server.accept(token: token, warn: warn, makeStore: makeStore) }
        thread.stackSize = 256 << 10
        thread.start()
        return server
    }

    /// The accepting thread: waits for connections (or the stop), builds the HTTP side on
    /// the first, and on the stop takes what is still queued before closing the socket.
    func accept(token: String?, warn: @Sendable (String) -> Void, makeStore: @escaping @Sendable () throws -> TrackingStore) {
        var http: HTTP1Channel?
        var broken = false
        var logger = Logger(label: "git-ml")
        logger.logLevel = .critical
        while true {
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0), pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
            if poll(&fds, 2, -1) < 0 && errno == EINTR { continue }
            let last = stopping.load(ordering: .sequentiallyConsistent)
            while true {
                let connection = Glibc.accept(listener, nil, nil)
                if connection < 0 {
                    if errno == EINTR { continue }
                    break   // EAGAIN: nothing more queued
                }
                _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
                if http == nil && !broken {
                    do { http = Self.makeChannel(store: try makeStore(), token: token, logger: logger) } catch {
                        broken = true
                        warn("the run's tracking server cannot open the repository: \(error)")
                    }
                }
                guard let http else { close(connection); continue }
                hand(connection, to: http, logger: logger)
            }
            if last { break }
        }
        close(listener)
        close(wake.read)
        acceptorDone.signal()
    }

    static func makeChannel(store: TrackingStore, token: String?, logger: Logger) -> HTTP1Channel {
        let responder = buildRouter(store: store, token: token).buildResponder()
        return HTTP1Channel(responder: { request, writer, channel in
            let context = BasicRequestContext(source: .init(channel: channel, logger: logger))
            var response: Response
            do {
                response = try await responder.respond(to: request, context: context)
            } catch let error as HTTPParserError {
                throw error
            } catch {
                response = Response(status: .internalServerError)
            }
            try await writer.write(response: response.head, body: response.body)
        })
    }

    /// Serves one accepted connection on SwiftNIO's event loop until the client closes it.
    func hand(_ connection: Int32, to http: HTTP1Channel, logger: Logger) {
        open.withLock { $0 += 1 }
        Task {
            do {
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                    .withConnectedSocket(NIOBSDSocket.Handle(connection)) { [self] channel in
                        channels.withLock { $0[ObjectIdentifier(channel)] = channel }
                        return http.setup(channel: channel, logger: logger)
                    }
                await http.handle(value: channel, logger: logger)
                channels.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(channel.channel)) }
            } catch {
                close(connection)
            }
            let left = open.withLock { $0 -= 1; return $0 }
            if left == 0 { idle.signal() }
        }
    }

    /// Takes the connections still queued, lets the requests under way finish (a few seconds
    /// at most, for a client that keeps its connection open) and returns when nothing more
    /// is written through the server.
    public func stop() {
        guard !stopping.exchange(true, ordering: .sequentiallyConsistent) else { return }
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
        acceptorDone.wait()
        close(wake.write)
        let deadline = DispatchTime.now() + 5
        while open.withLock({ $0 }) > 0 {
            if idle.wait(timeout: deadline) == .timedOut {
                // A client (a process the command left behind) keeps a connection open: close it.
                for channel in channels.withLock({ $0.values }) { channel.close(promise: nil) }
                while open.withLock({ $0 }) > 0 { _ = idle.wait(timeout: .now() + 0.1) }
            }
        }
    }
}

public struct TrackingServerError: Error, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
