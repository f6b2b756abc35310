import Crypto
import Foundation
import Synchronization

/// Streaming SHA-256 over files and buffers: a file is read in fixed chunks,
/// never whole, so hashing a 100 GB file needs 1 MiB of memory.
public enum FileHashing {
    static let chunkSize = 1 << 20

    public static func sha256(_ data: Data) -> ContentID {
        ContentID(unchecked: hex(SHA256.hash(data: data)))
    }

    /// Hashes an open file from its current offset to the end, handing each
    /// chunk to `sink` (used to copy while hashing). Returns the id and byte count.
    static func sha256(fd: Int32, path: String, sink: ((UnsafeRawBufferPointer) throws -> Void)? = nil) throws -> (ContentID, Int64) {
        var hasher = SHA256()
        let buffer = ChunkBuffers.take()
        defer { ChunkBuffers.give(buffer) }
        var total: Int64 = 0
        while true {
            let n = read(fd, buffer.baseAddress, chunkSize)
            if n < 0 {
                if errno == EINTR { continue }
                throw StoreError.errno("read", path)
            }
            if n == 0 { break }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            hasher.update(bufferPointer: chunk)
            try sink?(chunk)
            total += Int64(n)
        }
        return (ContentID(unchecked: hex(hasher.finalize())), total)
    }

    /// Hashes the file at `path` without storing it.
    public static func sha256(fileAt path: String) throws -> (id: ContentID, size: Int64) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError.errno("open", path) }
        defer { close(fd) }
        adviseSequential(fd)
        let (id, size) = try sha256(fd: fd, path: path)
        return (id, size)
    }

    static func adviseSequential(_ fd: Int32) {
        #if os(Linux)
        _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_SEQUENTIAL))
        #endif
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Hashing buffers kept for the next file instead of freed: a folder of 10,000
/// files would otherwise map, fault in and unmap a fresh megabyte for each file,
/// which costs more than hashing a small file. At most one per thread is in use.
enum ChunkBuffers {
    struct Buffer: @unchecked Sendable { let pointer: UnsafeMutableRawBufferPointer }
    private static let kept = Mutex<[Buffer]>([])

    static func take() -> UnsafeMutableRawBufferPointer {
        if let b = kept.withLock({ $0.popLast() }) { return b.pointer }
        return .allocate(byteCount: FileHashing.chunkSize, alignment: DirectIO.alignment)
    }

    static func give(_ buffer: UnsafeMutableRawBufferPointer) {
        let extra: Buffer? = kept.withLock { list in
            guard list.count < 16 else { return Buffer(pointer: buffer) }
            list.append(Buffer(pointer: buffer))
            return nil
        }
        extra?.pointer.deallocate()
    }
}
