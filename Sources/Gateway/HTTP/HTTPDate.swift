/// IMF-fixdate (RFC 9110 §5.6.7), "Sun, 06 Nov 1994 08:49:37 GMT": `Last-Modified` out,
/// `If-Modified-Since` in. Only that form is read; a client's obsolete form is simply ignored
/// (the condition then does not hold and the full answer goes out, which is always correct).
enum HTTPDate {
    static let days = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"] // 1970-01-01 was a Thursday
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func format(_ seconds: Int64) -> String {
        let day = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let rest = seconds - day * 86_400
        let (y, m, d) = CivilDate.date(day)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let weekday = days[Int(((day % 7) + 7) % 7)]
        return "\(weekday), \(two(d)) \(months[Int(m - 1)]) \(y) \(two(rest / 3600)):\(two(rest / 60 % 60)):\(two(rest % 60)) GMT"
    }

    static func parse(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        guard b.count == 29, b[3] == 0x2C, b[4] == 0x20, b[7] == 0x20, b[11] == 0x20, b[16] == 0x20, b[19] == 0x3A, b[22] == 0x3A,
              b[25] == 0x20, String(decoding: b[26...], as: UTF8.self) == "GMT" else { return nil }
        func n(_ r: Range<Int>) -> Int64? {
            var v: Int64 = 0
            for i in r {
                guard b[i] >= 0x30, b[i] <= 0x39 else { return nil }
                v = v * 10 + Int64(b[i] - 0x30)
            }
            return v
        }
        guard let d = n(5..<7), let y = n(12..<16), let hh = n(17..<19), let mm = n(20..<22), let ss = n(23..<25),
              let m = months.firstIndex(of: String(decoding: b[8..<11], as: UTF8.self)), d >= 1,
              d <= CivilDate.daysIn(month: Int64(m + 1), year: y), hh < 24, mm < 60, ss < 61 else { return nil }
        return CivilDate.days(year: y, month: Int64(m + 1), day: d) * 86_400 + hh * 3600 + mm * 60 + ss
    }
}
