import Foundation
import Synchronization
import Testing
import TestSupport
@testable import Net

/// Records every `responseEnded`: what metrics and access logs hang on.
final class EndRecorder: HTTPHandler {
    let ends = Mutex<[(path: String, status: Int, tag: Int, completed: Bool)]>([])

    func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        switch request.rawPath {
        case "/tagged":
            responder.setTag(7)
            responder.send(status: .created, contentType: "text/plain", body: .staticString("made"))
        case "/stall":
            // Starts a stream and never finishes it: the client gives up.
            responder.startStream(status: .ok, contentType: "text/plain")
            responder.writeChunk("partial")
        default:
            // Never answers at all.
            break
        }
    }

    func responseEnded(_ end: HTTPResponseEnd) {
        let path = end.request.rawPath
        ends.withLock { $0.append((path, end.status, end.tag, end.completed)) }
    }
}

@Suite("Response-ended hook")
struct ResponseEndedTests {
    func waitFor(_ recorder: EndRecorder, count: Int) -> [(path: String, status: Int, tag: Int, completed: Bool)] {
        for _ in 0..<200 {
            let ends = recorder.ends.withLock { $0 }
            if ends.count >= count { return ends }
            usleep(10_000)
        }
        return recorder.ends.withLock { $0 }
    }

    @Test func reportsSentResponsesWithTheirTagAndAbandonedOnesAsSuch() throws {
        let recorder = EndRecorder()
        let server = try TestServer(loops: 1, handler: recorder)

        let client = try RawClient(port: server.port)
        let answer = try client.roundTrip("GET /tagged HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(answer.status == 201)
        let first = waitFor(recorder, count: 1)
        #expect(first.count == 1 && first[0].path == "/tagged" && first[0].status == 201 && first[0].tag == 7 && first[0].completed)

        // A stream cut by the client: ended once, not completed, with the status it had begun.
        do {
            let streaming = try RawClient(port: server.port)
            _ = streaming.send("GET /stall HTTP/1.1\r\nHost: t\r\n\r\n")
            usleep(100_000)
        }
        // A request never answered whose client sent a FIN: a half-closed client may still be
        // waiting for its answer, so the request stays the handler's until the server closes
        // the connection (here, at shutdown) — then it ends once, abandoned, nothing sent.
        do {
            let silent = try RawClient(port: server.port)
            _ = silent.send("GET /never HTTP/1.1\r\nHost: t\r\n\r\n")
            usleep(100_000)
        }

        let beforeShutdown = waitFor(recorder, count: 2)
        let stalled = beforeShutdown.first { $0.path == "/stall" }
        #expect(stalled?.completed == false && stalled?.status == 200)
        #expect(!beforeShutdown.contains { $0.path == "/never" })
        server.shutdown()
        let all = waitFor(recorder, count: 3)
        #expect(all.count == 3)
        let never = all.first { $0.path == "/never" }
        #expect(never?.completed == false && never?.status == 0)
    }
}
