import Crypto
import Foundation
import Synchronization

/// Writing the store's copy of a file around the page cache.
///
/// The copy `git ml data add` (and a job's inputs) puts in the store is written
/// once and seldom read soon after. Written through the page cache, every byte
/// first costs a freshly allocated cache page (on a virtual machine the host may
/// have to fault it in) and then waits for the fsync that makes the object durable;
/// written with `O_DIRECT`, it goes from git-ml's buffer to the disk once, the
/// user's page cache is left alone, and the fsync has only the metadata left.
/// A large file is hashed on the calling thread while a second thread writes the
/// chunks already read, so storing it takes about as long as hashing it.
enum DirectIO {
    #if os(Linux) && arch(x86_64)
    static let flag: Int32 = 0o40000
    #elseif os(Linux) && arch(arm64)
    static let flag: Int32 = 0o200000
    #else
    static let flag: Int32 = 0
    #endif
    /// Offsets, lengths and buffers of direct writes are multiples of this.
    static let alignment = 4096
    /// Files from this size on are copied with a writer thread beside the hasher.
    static let pipelineThreshold: Int64 = 8 << 20
    static let chunk = 4 << 20
    static let buffers = 4

    /// Turns direct I/O on for `fd`; false where the file system refuses it.
    static func enable(_ fd: Int32) -> Bool {
        guard flag != 0 else { return false }
        let flags = fcntl(fd, F_GETFL)
        return flags >= 0 && fcntl(fd, F_SETFL, flags | flag) == 0
    }

    static func disable(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags & ~flag) }
    }
}

/// Appends chunks to a file, directly while offsets and lengths are aligned and
/// through the page cache for an unaligned tail (or when the file system will not
/// take a direct write).
struct StoreWriter {
    let fd: Int32
    let path: String
    private(set) var direct: Bool

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
        direct = DirectIO.enable(fd)
    }

    /// `bytes` must start at an aligned address (the hashing buffers are page aligned).
    mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard direct else { return try writeAll(fd, bytes, path) }
        let aligned = bytes.count - bytes.count % DirectIO.alignment
        if aligned > 0 {
            let (written, error) = writeFully(fd, UnsafeRawBufferPointer(rebasing: bytes[0..<aligned]))
            if error != 0 {
                guard error == EINVAL else { throw StoreError.errno("write", path, error) }
                // Refused after all (an unusual block size): the rest goes through the cache.
                DirectIO.disable(fd)
                direct = false
                return try writeAll(fd, UnsafeRawBufferPointer(rebasing: bytes[written...]), path)
            }
        }
        if aligned < bytes.count {
            DirectIO.disable(fd)
            direct = false
            try writeAll(fd, UnsafeRawBufferPointer(rebasing: bytes[aligned...]), path)
        }
    }
}

extension FileHashing {
    /// Hashes `fd` from its offset to the end while a second thread writes the same
    /// bytes to `output` (a `StoreWriter`), a few chunks behind. Returns the id and
    /// the byte count; the copy is complete when it returns without throwing.
    static func sha256Copying(fd: Int32, path: String, to output: Int32, outputPath: String) throws -> (ContentID, Int64) {
        let count = DirectIO.buffers, size = DirectIO.chunk
        let pipe = CopyPipe(count: count, size: size)
        defer { pipe.release() }
        let writerThread = Thread {
            var writer = StoreWriter(fd: output, path: outputPath)
            var k = 0
            while true {
                pipe.filled.wait()
                let n = pipe.length(k)
                // Every buffer taken is given back, the end marker's too: libdispatch
                // traps when a semaphore goes away below its starting value.
                if n == 0 { pipe.free.signal(); break }
                if pipe.failure.withLock({ $0 }) == nil {
                    do { try writer.write(UnsafeRawBufferPointer(rebasing: pipe.buffer(k)[0..<n])) } catch {
                        pipe.fail(error as? StoreError ?? StoreError(.io, path: outputPath, "\(outputPath): \(error)"))
                    }
                }
                pipe.free.signal()
                k += 1
            }
            pipe.done.signal()
        }
        writerThread.stackSize = 1 << 20
        writerThread.start()
        var hasher = SHA256()
        var total: Int64 = 0
        var k = 0
        var readError: StoreError?
        while true {
            pipe.free.wait()
            let buffer = pipe.buffer(k)
            var n = 0
            if readError == nil && pipe.failure.withLock({ $0 }) == nil {
                // Fill the chunk: only the last one may be short, so every direct write but the last is aligned.
                while n < size {
                    let r = read(fd, buffer.baseAddress! + n, size - n)
                    if r < 0 { if errno == EINTR { continue }; readError = StoreError.errno("read", path); n = 0; break }
                    if r == 0 { break }
                    n += r
                }
            }
            pipe.setLength(k, n)
            pipe.filled.signal()
            if n == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            total += Int64(n)
            k += 1
        }
        pipe.done.wait()
        if let readError { throw readError }
        if let failure = pipe.failure.withLock({ $0 }) { throw failure }
        return (ContentID(unchecked: hex(hasher.finalize())), total)
    }
}

/// The ring of buffers between the hashing thread and the writer thread. Buffer k
/// is handed over by `filled` and given back by `free`; the reader takes a buffer
/// again only after the writer gave it back, and lengths are read only after the
/// semaphore that published them: the reason this is `@unchecked Sendable`.
final class CopyPipe: @unchecked Sendable {
    let free: DispatchSemaphore
    let filled = DispatchSemaphore(value: 0)
    let done = DispatchSemaphore(value: 0)
    let failure = Mutex<StoreError?>(nil)
    private let storage: UnsafeMutableRawBufferPointer
    private let lengths: UnsafeMutablePointer<Int>
    private let count: Int, size: Int

    init(count: Int, size: Int) {
        self.count = count
        self.size = size
        free = DispatchSemaphore(value: count)
        storage = .allocate(byteCount: count * size, alignment: DirectIO.alignment)
        lengths = .allocate(capacity: count)
        lengths.initialize(repeating: 0, count: count)
    }

    func buffer(_ k: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: storage[(k % count) * size ..< (k % count + 1) * size])
    }
    func length(_ k: Int) -> Int { lengths[k % count] }
    func setLength(_ k: Int, _ n: Int) { lengths[k % count] = n }
    func fail(_ e: StoreError) { failure.withLock { if $0 == nil { $0 = e } } }

    func release() {
        storage.deallocate()
        lengths.deallocate()
    }
}
