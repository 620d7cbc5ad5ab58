import CUV

/// Asks the kernel to start writing `count` bytes at `offset` of `fd` to the disk, without
/// waiting: a long file written piece by piece then reaches its final `fsync` with little left
/// to flush, instead of all of it at once. Best effort (an error changes nothing: the `fsync`
/// still makes the bytes durable).
public func startWriteback(_ fd: Int32, offset: Int64, count: Int64) {
    _ = cuv_start_writeback(fd, offset, count)
}
