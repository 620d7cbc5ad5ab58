import Storage
import Testing

/// The read-your-writes token is parsed from client headers: exact on what PostgreSQL prints,
/// nil (never a trap) on anything else.
@Suite("WAL positions")
struct WALPositionTests {
    @Test("round trip of the server's spelling")
    func roundTrip() {
        for text in ["0/0", "0/16B3748", "16/B374D848", "FFFFFFFF/FFFFFFFF"] {
            #expect(WALPosition(text)?.description == text)
        }
        #expect(WALPosition("16/b374d848")?.value == 0x16_B374_D848)
        #expect(WALPosition("0/2") ?? WALPosition(0) > WALPosition("0/1") ?? WALPosition(9))
        #expect(WALPosition("1/0")!.value == 1 << 32)
    }

    @Test("hostile tokens are refused", arguments: ["", "/", "0/", "/0", "0//0", "0/0/0", "g/0", "0/-1", " 0/1", "0/1 ",
                                                    "123456789/0", "0/123456789", "0x1/0", "0/1\u{0}", "é/1"])
    func refused(_ text: String) {
        #expect(WALPosition(text) == nil)
    }
}
