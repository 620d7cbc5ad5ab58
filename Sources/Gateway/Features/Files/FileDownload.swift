import Logging
import Net
import Storage

/// One download: the bytes of a file version (or one range of them) written piece by piece,
/// the next piece read only once the last is in the kernel (`HTTPResponder.whenDrained`), so a
/// slow client holds one piece of memory, never the file.
///
/// A whole download is checked against the version's SHA-256 as it is read, and the last piece
/// is held back until the check passes: bytes that do not match (a damaged disk, a tampered
/// blob) end in a cut connection — which the client's Content-Length shows as incomplete —
/// never in a complete-looking wrong file. A range is served unchecked (checking it would mean
/// reading the whole blob).
final class FileDownload {
    static let pieceBytes = 256 * 1024

    let context: RequestContext
    let reader: any BlobReader
    let file: StoredFile
    let logger: Logger
    var offset: Int
    let end: Int
    let check: SHA256Stream?

    init(context: RequestContext, reader: any BlobReader, file: StoredFile, range: ClosedRange<Int>?, logger: Logger) {
        self.context = context
        self.reader = reader
        self.file = file
        self.logger = logger
        offset = range?.lowerBound ?? 0
        end = range.map { $0.upperBound + 1 } ?? Int(file.size)
        check = range == nil ? SHA256Stream() : nil
    }

    func start(status: HTTPStatus, headers: [(String, String)]) {
        context.startStream(status: status, contentType: nil, headers: headers, contentLength: end - offset)
        if context.request.method == .head || offset >= end {
            if let check, offset >= end, check.finish() != file.sha256 { return corrupt() }
            reader.close()
            return context.responder.finishStream()
        }
        next()
    }

    func next() {
        let count = min(FileDownload.pieceBytes, end - offset)
        reader.read(offset: offset, count: count, hash: check, on: context.loop) { [self] result in
            let responder = context.responder
            guard responder.isPending else { return reader.close() }
            switch result {
            case .failure(let error):
                logger.error("file read failed", metadata: ["file": .string(String(file.id)), "error": .string(error.description)])
                reader.close()
                return responder.abort()
            case .success(let bytes):
                guard !bytes.isEmpty else {
                    logger.error("file is shorter than its version says", metadata: ["file": .string(String(file.id))])
                    reader.close()
                    return responder.abort()
                }
                offset += bytes.count
                if offset >= end, let check, check.finish() != file.sha256 { return corrupt() }
                bytes.withUnsafeBytes { responder.writeChunk($0) }
                if offset >= end {
                    reader.close()
                    return responder.finishStream()
                }
                responder.whenDrained { [self] in next() }
            }
        }
    }

    func corrupt() {
        logger.error("file bytes do not match their SHA-256; the download was cut",
                     metadata: ["file": .string(String(file.id)), "version": .string(String(file.version))])
        reader.close()
        context.responder.abort()
    }
}
