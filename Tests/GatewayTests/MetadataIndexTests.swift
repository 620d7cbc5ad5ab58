import Testing
@testable import Gateway

/// The metadata index may only narrow: for every filter it answers, its candidates hold every
/// record the filter matches (checked against evaluating the filter on each record), and the
/// postings follow inserts, replacements and removals.
@Suite("Metadata index")
struct MetadataIndexTests {
    func filter(_ json: String) throws -> RecordFilter {
        try RecordFilter.metadata(try JSONParser.parse(Array(json.utf8)))!
    }

    @Test func candidatesAreASupersetOfTheMatches() throws {
        var generator = SystemRandomNumberGenerator()
        var index = MetadataIndex()
        var records: [UInt64: Metadata] = [:]
        for label in UInt64(1)...3_000 {
            var m = Metadata()
            m.set("colour", .string(["red", "green", "blue"][Int.random(in: 0..<3, using: &generator)]))
            m.set("n", Bool.random(using: &generator) ? .int(Int64.random(in: 0..<20, using: &generator)) : .float(Double(Int.random(in: 0..<20, using: &generator))))
            if Bool.random(using: &generator) { m.set("flag", .bool(Bool.random(using: &generator))) }
            records[label] = m
            index.insert(label, m)
        }
        // Replace and remove some, as upserts and deletes do.
        for label in UInt64(1)...500 {
            index.remove(label, records[label]!)
            if label % 2 == 0 {
                var m = Metadata()
                m.set("colour", .string("violet"))
                records[label] = m
                index.insert(label, m)
            } else {
                records[label] = nil
            }
        }
        let filters = [
            #"{"colour": "red"}"#, #"{"colour": {"$in": ["violet", "blue"]}}"#, #"{"n": 7}"#, #"{"n": 7.0}"#,
            #"{"$and": [{"colour": "green"}, {"n": {"$gte": 5}}]}"#, #"{"$and": [{"colour": "green"}, {"flag": true}]}"#,
            #"{"$or": [{"colour": "violet"}, {"n": 3}]}"#, #"{"$or": [{"colour": "violet"}, {"n": {"$lt": 3}}]}"#,
            #"{"n": {"$ne": 3}}"#, #"{"colour": "absent"}"#,
        ]
        for text in filters {
            let f = try filter(text)
            let matching = Set(records.filter { f.matches(id: "x", $0.value, nil) }.keys)
            if let candidates = index.candidates(f, label: { _ in nil }) {
                #expect(matching.isSubset(of: candidates), "\(text)")
                #expect(candidates.allSatisfy { records[$0] != nil }, "\(text): a removed record is still posted")
            } else {
                #expect(text.contains("$ne") || text.contains("$lt"), "\(text) should narrow")
            }
        }
        #expect(index.candidates(try filter(#"{"n": 7}"#), label: { _ in nil }) == index.candidates(try filter(#"{"n": 7.0}"#), label: { _ in nil }))
    }
}
