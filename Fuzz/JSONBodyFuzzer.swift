// libFuzzer entry for the gateway's strict JSON parser (request bodies), built by Fuzz/run.sh
// with -sanitize=fuzzer,address. Invariants on every input:
//  - the parser never crashes, loops or reads out of bounds (any bytes, not only UTF-8);
//  - whatever it accepts is valid UTF-8 and Foundation's JSONSerialization parses it too
//    (it accepts nothing that is not JSON), unless the input has a NUL byte (Foundation then
//    guesses UTF-16/32; the parser refuses NULs anyway, raw control bytes are never JSON) or
//    a number beyond a double's range (Foundation refuses it; the parser keeps numbers as text
//    and the decoder refuses what a field's type cannot hold);
//  - what it accepts, written back out and parsed again, is the same value (round trip).
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let value = try? JSONParser.parse(bytes) else { return 0 }
    guard String(validating: bytes, as: UTF8.self) != nil else { fatalError("accepted invalid UTF-8: \(bytes)") }
    if !bytes.contains(0), !hasHugeNumber(value), (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) == nil {
        fatalError("accepted, but Foundation refuses: \(String(decoding: bytes, as: UTF8.self).debugDescription)")
    }
    let written = write(value)
    guard let again = try? JSONParser.parse(Array(written.utf8)), again == value else {
        fatalError("round trip changed \(String(decoding: bytes, as: UTF8.self).debugDescription) into \(written.debugDescription)")
    }
    return 0
}

func write(_ value: JSONValue) -> String {
    switch value {
    case .null: return "null"
    case .bool(let b): return b ? "true" : "false"
    case .number(let n): return n
    case .string(let s): return quote(s)
    case .array(let a): return "[" + a.map(write).joined(separator: ",") + "]"
    case .object(let o): return "{" + o.keys.map { quote($0) + ":" + write(o[$0]!) }.joined(separator: ",") + "}"
    }
}

func quote(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

func hasHugeNumber(_ value: JSONValue) -> Bool {
    switch value {
    case .number(let n): return !(Double(n)?.isFinite ?? false)
    case .array(let a): return a.contains(where: hasHugeNumber)
    case .object(let o): return o.keys.contains { hasHugeNumber(o[$0]!) }
    default: return false
    }
}
