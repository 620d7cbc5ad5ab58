/// What must match exactly, besides the embedding, for one prompt's answer to stand for
/// another's in the semantic cache: the prompt's content words, normalised.
///
/// Why a second test: an embedding says two prompts are about the same thing, not that they
/// want the same answer. On all-MiniLM-L6-v2, "Write a blog post about healthy breakfast
/// ideas" and "… unhealthy breakfast habits" score 0.91; "… afraid of fire" and "… not afraid
/// of fire" 0.99; "in 300 words" and "in 1000 words" 0.98; while true paraphrases score from
/// 0.77 up (`Benchmarks/semantic/pairs.tsv`: no cosine threshold separates them). The prompts
/// that want a different answer are, nearly always, the same sentence with a few words
/// changed — and the changed words are the ones that decide the answer: a negation, a
/// number, an antonym, a format, a length, a topic, a language, an audience. So a hit also
/// needs the same multiset of content words: what is dropped first is only what cannot change
/// the answer — case, punctuation, articles, prepositions, pronouns, politeness, and the
/// request verbs a writer uses interchangeably ("write", "draft", "compose", "give me",
/// "explain", "describe") — then words are reduced to a crude stem (plurals, -ing, -ly, -ed,
/// British -ise), number words to their value ("ten" and "10" are one word), negations to
/// "not" (`n't`, "without", "never"), and a short list of synonyms that writing prompts
/// trade freely ("post"/"article", "brief"/"short", "tip"/"advice") to one word.
///
/// A paraphrase that rewrites its content words ("nutritious morning meals") is then a miss,
/// which costs an upstream call; a false hit would cost a wrong answer, which is worse. Word
/// order is compared too when the prompt holds a word that gives order a meaning ("from",
/// "into", "than", "versus"): "from English to French" is not "from French to English". ("to"
/// alone is too common, as in "explain to a child", to make order matter wherever it appears.)
/// Measured on labeled pairs in `Benchmarks/RESULTS.md` ("Semantic cache").
struct PromptSignature: Hashable, Sendable {
    /// The content words, in the prompt's order.
    let words: [String]
    /// Whether order is part of the signature.
    let ordered: Bool

    init(_ text: String) {
        var words: [String] = []
        var ordered = false
        var number: Int?
        func flushNumber() {
            if let n = number { words.append(String(n)) }
            number = nil
        }
        for token in PromptSignature.tokens(text) {
            if let value = PromptSignature.numberWords[token] {
                if let n = number { number = value >= 100 ? n &* value : n &+ value } else { number = value }
                continue
            }
            flushNumber()
            if PromptSignature.orderWords.contains(token) { ordered = true }
            if PromptSignature.dropped.contains(token) { continue }
            // (Order words are dropped above; "from English to French" keeps its order instead.)
            if PromptSignature.negations.contains(token) { words.append("not"); continue }
            if token.first!.isNumber { words.append(PromptSignature.canonicalNumber(token)); continue }
            let stem = PromptSignature.stem(token)
            words.append(PromptSignature.synonyms[stem] ?? PromptSignature.synonyms[token] ?? stem)
        }
        flushNumber()
        self.words = ordered ? words : words.sorted()
        self.ordered = ordered
    }

    /// Lowercase runs of letters or of digits (with a decimal point); `n't` becomes `not`.
    static func tokens(_ text: String) -> [String] {
        var tokens: [String] = []
        var current: [UInt8] = []
        var digits = false
        func flush() {
            if !current.isEmpty { tokens.append(String(decoding: current, as: UTF8.self)) }
            current.removeAll(keepingCapacity: true)
        }
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            var c = bytes[i]
            if c >= 0x41, c <= 0x5A { c |= 0x20 }
            let letter = c >= 0x61 && c <= 0x7A
            let digit = c >= 0x30 && c <= 0x39
            if letter || digit {
                if !current.isEmpty, digit != digits { flush() }
                digits = digit
                current.append(c)
            } else if c == 0x2E, digits, i + 1 < bytes.count, bytes[i + 1] >= 0x30, bytes[i + 1] <= 0x39 {
                current.append(c)
            } else if !digits, current.last == 0x6E,
                      c == 0x27 || (c == 0xE2 && i + 2 < bytes.count && bytes[i + 1] == 0x80 && bytes[i + 2] == 0x99) {
                // "n't" (ASCII or U+2019 apostrophe, E2 80 99): "doesn't" is "does" + "not".
                let skip = c == 0x27 ? 1 : 3
                if i + skip < bytes.count, bytes[i + skip] | 0x20 == 0x74,
                   i + skip + 1 == bytes.count || !isWordByte(bytes[i + skip + 1]) {
                    current.removeLast()
                    flush()
                    tokens.append("not")
                    i += skip + 1
                    continue
                }
                flush()
                i += skip
                continue
            } else if c == 0xE2, i + 2 < bytes.count, bytes[i + 1] == 0x80 || bytes[i + 1] == 0x81 {
                // General punctuation (U+2000–U+207F: dashes, quotes, spaces) separates words.
                flush()
                i += 3
                continue
            } else if c == 0xC2, i + 1 < bytes.count, bytes[i + 1] == 0xA0 || bytes[i + 1] == 0xAB || bytes[i + 1] == 0xBB {
                flush() // no-break space and guillemets
                i += 2
                continue
            } else if c >= 0x80 {
                // Letters outside ASCII are kept as they are: the words of other scripts still
                // have to match.
                current.append(bytes[i])
                digits = false
            } else {
                flush()
            }
            i += 1
        }
        flush()
        return tokens
    }

    static func isWordByte(_ c: UInt8) -> Bool {
        let l = c | 0x20
        return (l >= 0x61 && l <= 0x7A) || (c >= 0x30 && c <= 0x39) || c >= 0x80
    }

    /// "10", "10.0" and "010" are one number.
    static func canonicalNumber(_ token: String) -> String {
        guard let value = Double(token), value.isFinite else { return token }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    /// A crude suffix stripper: enough that "exercising", "exercises" and "exercise", or
    /// "summarise" and "summarize", are one word; it never has to produce a real word.
    static func stem(_ word: String) -> String {
        var w = Array(word.utf8)
        func ends(_ s: String) -> Bool { w.count > s.utf8.count && w.suffix(s.utf8.count).elementsEqual(s.utf8) }
        if ends("ies"), w.count > 4 {
            w.removeLast(3); w.append(0x79)
        } else if ends("sses") {
            w.removeLast(2)
        } else if ends("s"), !ends("ss"), !ends("us"), !ends("is"), w.count > 3 {
            w.removeLast()
        }
        for suffix in ["ing", "ly", "ed"] where ends(suffix) && w.count - suffix.utf8.count >= 3 {
            w.removeLast(suffix.utf8.count)
            break
        }
        if ends("ise") { w[w.count - 2] = 0x7A } else if ends("isation") { w[w.count - 6] = 0x7A }
        if ends("e"), w.count > 3 { w.removeLast() }
        return String(decoding: w, as: UTF8.self)
    }

    /// Words that cannot change what is asked for.
    static let dropped: Set<String> = Set("""
        a an the this that these those some any of on in into at by for from to with as about over under and or but so than then \
        is are was were be been being do does did doing done have has had having am \
        i me my mine myself we us our ours you your yours he him his she her it its they them their \
        please can could would will shall should may might must kindly just also \
        what how which who whom whose where when why \
        write draft compose create make generate produce craft give tell share suggest recommend provide list explain describe \
        help come up show want need like get let s ca wo sha
        """.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))

    /// Words that give the order of the others a meaning (the words themselves are dropped).
    static let orderWords: Set<String> = ["from", "into", "than", "versus", "vs"]

    static let negations: Set<String> = ["not", "no", "never", "without", "nor", "none", "nothing", "neither", "nobody", "nowhere"]

    /// Synonyms writing prompts trade freely, each class to its first word (stems both sides).
    static let synonyms: [String: String] = {
        let classes = ["article post piece", "job position role", "colleague coworker", "ocean sea", "error mistake",
                       "symptom sign", "story tale", "afraid scared", "intro introduction", "summary summarize summarise",
                       "brave courageous", "slogan tagline", "advantage benefit", "disadvantage drawback downside",
                       "tip advice", "short brief", "boss manager"]
        var map: [String: String] = [:]
        for line in classes {
            let words = line.split(separator: " ").map { stem(String($0)) }
            for word in words { map[word] = words[0] }
        }
        return map
    }()

    static let numberWords: [String: Int] = [
        "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
        "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
        "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
        "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1_000, "million": 1_000_000,
        "single": 1, "dozen": 12, "couple": 2, "pair": 2,
    ]
}
