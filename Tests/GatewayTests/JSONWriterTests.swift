import Foundation
@testable import Gateway
import Testing
import TestSupport

@Suite("JSON writer")
struct JSONWriterTests {
    static func written(_ s: String) -> String {
        var writer = JSONWriter()
        writer.string(s)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    @Test("escapes quotes, backslashes and every control character; copies the rest as it is")
    func escapes() {
        #expect(Self.written("") == "\"\"")
        #expect(Self.written("plain") == "\"plain\"")
        #expect(Self.written("a\"b\\c\nd\re\tf") == #""a\"b\\c\nd\re\tf""#)
        #expect(Self.written("\u{0}\u{1}\u{1F}") == #""\u0000\u0001\u001f""#)
        #expect(Self.written("\u{7F}é漢🙂") == "\"\u{7F}é漢🙂\"")
        #expect(Self.written("\"") == #""\"""#)
        #expect(Self.written("end\\") == #""end\\""#)
    }

    @Test("random strings round-trip through a JSON parser, escapes at every position")
    func roundTrips() throws {
        let alphabet: [String] = ["a", "Z", " ", "\"", "\\", "\n", "\r", "\t", "\u{0}", "\u{8}", "\u{1F}", "/", "é", "漢", "🙂", "\u{2028}"]
        var random = SplitMix(seed: 19)
        for _ in 0..<2000 {
            let length = Int(random.next() % 40)
            let s = (0..<length).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }.joined()
            var writer = JSONWriter()
            writer.raw("[")
            writer.string(s)
            writer.raw("]")
            let parsed = try JSONSerialization.jsonObject(with: Data(writer.bytes)) as? [String]
            #expect(parsed == [s], "\(s.debugDescription)")
        }
    }
}
