/// Writes a parsed `JSONValue` back out (numbers keep their original text).
public enum JSONValueWriter {
    public static func write(_ value: JSONValue, into w: inout JSONWriter) {
        switch value {
        case .null: w.raw("null")
        case .bool(let b): w.bool(b)
        case .number(let text): w.raw(text)
        case .string(let s): w.string(s)
        case .array(let items):
            w.raw("[")
            for (i, item) in items.enumerated() {
                if i > 0 { w.raw(",") }
                write(item, into: &w)
            }
            w.raw("]")
        case .object(let object):
            w.raw("{")
            for (i, key) in object.keys.enumerated() {
                if i > 0 { w.raw(",") }
                w.string(key)
                w.raw(":")
                write(object[key]!, into: &w)
            }
            w.raw("}")
        }
    }

    public static func text(_ value: JSONValue) -> String {
        var w = JSONWriter()
        write(value, into: &w)
        return String(decoding: w.bytes, as: UTF8.self)
    }
}
