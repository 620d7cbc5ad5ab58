/// The one growable byte buffer of the Net module.
///
/// It exists because every byte the server reads or writes passes through a buffer, and Swift's
/// `[UInt8]` costs a uniqueness check and a bounds check per append and may copy on write. This
/// type owns raw memory, grows geometrically, never shrinks on its own, and is `~Copyable` so the
/// compiler proves there is exactly one owner: nothing is copied by accident on the hot path.
public struct ByteBuffer: ~Copyable {
    @usableFromInline var storage: UnsafeMutableRawPointer
    @usableFromInline var capacity: Int
    /// First byte not yet consumed.
    @usableFromInline var readerIndex: Int = 0
    /// One past the last byte written.
    @usableFromInline var writerIndex: Int = 0

    /// A buffer of `capacity` bytes; 0 allocates nothing until the first write, which keeps
    /// an idle keep-alive connection small.
    public init(capacity: Int = 1024) {
        self.capacity = max(capacity, 0)
        self.storage = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    /// Bytes written and not yet consumed.
    @inlinable public var readableBytes: Int { writerIndex - readerIndex }
    @inlinable public var isEmpty: Bool { writerIndex == readerIndex }
    /// Memory held, for accounting.
    @inlinable public var allocatedBytes: Int { capacity }

    /// Drops every byte; keeps the memory.
    @inlinable public mutating func clear() {
        readerIndex = 0
        writerIndex = 0
    }

    /// Marks `count` readable bytes as consumed.
    @inlinable public mutating func moveReaderIndex(forwardBy count: Int) {
        precondition(count >= 0 && count <= readableBytes)
        readerIndex += count
        if readerIndex == writerIndex { clear() }
    }

    /// Makes room for `count` more bytes, compacting before growing.
    @inlinable public mutating func reserveWritable(_ count: Int) {
        if capacity - writerIndex >= count { return }
        grow(count)
    }

    @usableFromInline mutating func grow(_ count: Int) {
        let live = readableBytes
        if readerIndex > 0 && capacity - live >= count {
            storage.copyMemory(from: storage + readerIndex, byteCount: live)
            readerIndex = 0
            writerIndex = live
            return
        }
        var newCapacity = max(capacity, 256)
        while newCapacity - live < count { newCapacity &*= 2 }
        let newStorage = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        newStorage.copyMemory(from: storage + readerIndex, byteCount: live)
        storage.deallocate()
        storage = newStorage
        capacity = newCapacity
        readerIndex = 0
        writerIndex = live
    }

    /// Releases memory above `limit` once the buffer is empty, so one large body does not pin
    /// megabytes for the life of a keep-alive connection.
    public mutating func shrinkIfEmpty(above limit: Int, to target: Int = 0) {
        guard isEmpty, capacity > limit else { return }
        storage.deallocate()
        capacity = target
        storage = UnsafeMutableRawPointer.allocate(byteCount: target, alignment: 16)
        clear()
    }

    @inlinable public mutating func writeBytes(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        reserveWritable(bytes.count)
        (storage + writerIndex).copyMemory(from: base, byteCount: bytes.count)
        writerIndex += bytes.count
    }

    @inlinable public mutating func writeBytes(_ base: UnsafeRawPointer, count: Int) {
        guard count > 0 else { return }
        reserveWritable(count)
        (storage + writerIndex).copyMemory(from: base, byteCount: count)
        writerIndex += count
    }

    @inlinable public mutating func writeBytes(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { writeBytes($0) }
    }

    @inlinable public mutating func writeStaticString(_ string: StaticString) {
        writeBytes(UnsafeRawPointer(string.utf8Start), count: string.utf8CodeUnitCount)
    }

    @inlinable public mutating func writeString(_ string: String) {
        var string = string
        string.withUTF8 { writeBytes(UnsafeRawBufferPointer($0)) }
    }

    @inlinable public mutating func writeByte(_ byte: UInt8) {
        reserveWritable(1)
        storage.storeBytes(of: byte, toByteOffset: writerIndex, as: UInt8.self)
        writerIndex += 1
    }

    /// Appends the decimal digits of a non-negative integer without going through `String`.
    @inlinable public mutating func writeDecimal(_ value: Int) {
        precondition(value >= 0)
        reserveWritable(20)
        if value < 10 {
            storage.storeBytes(of: UInt8(48 + value), toByteOffset: writerIndex, as: UInt8.self)
            writerIndex += 1
            return
        }
        var digits = 0
        var v = value
        while v > 0 { digits += 1; v /= 10 }
        v = value
        var i = writerIndex + digits - 1
        while v > 0 {
            storage.storeBytes(of: UInt8(48 + v % 10), toByteOffset: i, as: UInt8.self)
            v /= 10
            i -= 1
        }
        writerIndex += digits
    }

    /// Appends lowercase hexadecimal digits of `value`, zero-padded to `width`.
    @inlinable public mutating func writeHex(_ value: UInt64, width: Int) {
        reserveWritable(width)
        var v = value
        var i = writerIndex + width - 1
        while i >= writerIndex {
            let nibble = UInt8(truncatingIfNeeded: v & 0xF)
            storage.storeBytes(of: nibble < 10 ? 48 + nibble : 87 + nibble, toByteOffset: i, as: UInt8.self)
            v >>= 4
            i -= 1
        }
        writerIndex += width
    }

    /// Lends the readable bytes.
    @inlinable public func withReadableBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage + readerIndex, count: readableBytes))
    }

    /// Lends `count` bytes at `offset` from the reader index.
    @inlinable public func withBytes<R>(at offset: Int, count: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        precondition(offset >= 0 && count >= 0 && offset + count <= readableBytes)
        return try body(UnsafeRawBufferPointer(start: storage + readerIndex + offset, count: count))
    }

    /// A pointer to the readable bytes; valid until the next mutation.
    @inlinable public var readablePointer: UnsafeRawPointer { UnsafeRawPointer(storage + readerIndex) }

    /// Copies the readable bytes out.
    public func readableBytesArray() -> [UInt8] {
        withReadableBytes { Array($0) }
    }

    /// Moves the readable bytes of `other` to the end of this buffer.
    public mutating func writeBuffer(_ other: borrowing ByteBuffer) {
        other.withReadableBytes { writeBytes($0) }
    }
}
