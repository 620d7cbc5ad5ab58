/// A cron expression, in UTC: five fields as crontab(5) has them — minute, hour, day of the
/// month, month, day of the week — or six with a seconds field first (for schedules finer than
/// a minute), or a macro (`@yearly`/`@annually`, `@monthly`, `@weekly`, `@daily`/`@midnight`,
/// `@hourly`).
///
/// A field is `*` (or `?`), a value, a range `a-b`, a step `*/n`, `a/n` or `a-b/n`, or a
/// comma-separated list of those; months and weekdays also take their three-letter English
/// names, and weekday 7 is Sunday like 0. As in Vixie cron, when both day fields are
/// restricted (neither starts with `*`), a day matches when *either* does: `0 0 1 * MON` is
/// the first of the month and every Monday.
///
/// Each field is a bit set, so a match is a mask test; `next(after:)` skips a whole month,
/// day, hour or minute at a time when that field does not match, so finding the next slot
/// takes at most a few hundred steps even for a yearly schedule. UTC only: a time zone with
/// daylight saving would make a slot run twice or never.
public struct CronExpression: Sendable, Equatable, CustomStringConvertible {
    public let description: String
    let seconds: UInt64
    let minutes: UInt64
    let hours: UInt64
    /// Bits 1...31.
    let days: UInt64
    /// Bits 1...12.
    let months: UInt64
    /// Bits 0...6, Sunday 0.
    let weekdays: UInt64
    let daysRestricted: Bool
    let weekdaysRestricted: Bool

    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    static let macros = ["@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
                         "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"]
    static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    static let weekdayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    public init(_ text: String) throws(ParseError) {
        description = text
        let trimmed = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
        var expanded = trimmed
        if trimmed.hasPrefix("@") {
            guard let macro = CronExpression.macros[trimmed.lowercased()] else {
                throw ParseError(description: "unknown cron macro \(trimmed) (use @yearly, @monthly, @weekly, @daily or @hourly)")
            }
            expanded = macro
        }
        var fields = expanded.split(separator: " ").map(String.init)
        guard fields.count == 5 || fields.count == 6 else {
            throw ParseError(description: "a cron expression has 5 fields (minute hour day month weekday) or 6 (seconds first); \"\(text)\" has \(fields.count)")
        }
        if fields.count == 5 { fields.insert("0", at: 0) }
        seconds = try CronExpression.field(fields[0], "seconds", 0...59, names: [])
        minutes = try CronExpression.field(fields[1], "minute", 0...59, names: [])
        hours = try CronExpression.field(fields[2], "hour", 0...23, names: [])
        days = try CronExpression.field(fields[3], "day of the month", 1...31, names: [])
        months = try CronExpression.field(fields[4], "month", 1...12, names: CronExpression.monthNames)
        var weekdays = try CronExpression.field(fields[5], "day of the week", 0...7, names: CronExpression.weekdayNames)
        if weekdays & (1 << 7) != 0 { weekdays = (weekdays | 1) & ~(1 << 7) }
        self.weekdays = weekdays
        daysRestricted = !(fields[3].hasPrefix("*") || fields[3].hasPrefix("?"))
        weekdaysRestricted = !(fields[5].hasPrefix("*") || fields[5].hasPrefix("?"))
        guard next(after: 0) != nil else { throw ParseError(description: "\"\(text)\" never fires (no such day)") }
    }

    /// One field as a bit set over `range`; names count from `range.lowerBound`.
    static func field(_ text: String, _ what: String, _ range: ClosedRange<Int>, names: [String]) throws(ParseError) -> UInt64 {
        func value(_ token: Substring) throws(ParseError) -> Int {
            if let index = names.firstIndex(of: token.lowercased()) { return range.lowerBound == 0 ? index : index + 1 }
            guard !token.isEmpty, token.utf8.count <= 2, token.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = Int(token) else {
                throw ParseError(description: "\(what) field \"\(text)\": \"\(token)\" is not a number\(names.isEmpty ? "" : " or a name")")
            }
            guard range.contains(n) else {
                throw ParseError(description: "\(what) field \"\(text)\": \(n) is outside \(range.lowerBound)-\(range.upperBound)")
            }
            return n
        }
        var bits: UInt64 = 0
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { throw ParseError(description: "\(what) field \"\(text)\": \"\(item)\" has two steps") }
            var step = 1
            if parts.count == 2 {
                guard parts[1].utf8.count <= 2, let n = Int(parts[1]), n > 0 else {
                    throw ParseError(description: "\(what) field \"\(text)\": the step \"\(parts[1])\" is not a positive number")
                }
                step = n
            }
            var low = range.lowerBound
            var high = range.upperBound
            if parts[0] == "*" || parts[0] == "?" {
                if range.upperBound == 7 { high = 6 }
            } else {
                let bounds = parts[0].split(separator: "-", omittingEmptySubsequences: false)
                guard bounds.count <= 2 else { throw ParseError(description: "\(what) field \"\(text)\": \"\(parts[0])\" is not a range") }
                low = try value(bounds[0])
                high = bounds.count == 2 ? try value(bounds[1]) : (parts.count == 2 ? high : low)
                guard low <= high else { throw ParseError(description: "\(what) field \"\(text)\": the range \(parts[0]) runs backwards") }
            }
            for n in stride(from: low, through: high, by: step) { bits |= 1 << UInt64(n) }
        }
        return bits
    }

    /// The first slot strictly after `milliseconds` (since the epoch), in milliseconds; nil
    /// when none comes within eight years (a day that does not exist, such as 30 February).
    public func next(after milliseconds: Int64) -> Int64? {
        var t = (milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000) + 1
        let limit = t + 8 * 366 * 86_400
        while t < limit {
            let day = t >= 0 ? t / 86_400 : (t - 86_399) / 86_400
            let secondOfDay = t - day * 86_400
            let (_, month, dayOfMonth) = CivilDate.date(day)
            if months & (1 << UInt64(month)) == 0 {
                t = CronExpression.firstDayOfNextMonth(day) * 86_400
                continue
            }
            if !matchesDay(dayOfMonth: Int(dayOfMonth), weekday: Int((day % 7 + 11) % 7)) {
                t = (day + 1) * 86_400
                continue
            }
            let hour = secondOfDay / 3600, minute = secondOfDay / 60 % 60, second = secondOfDay % 60
            if hours & (1 << UInt64(hour)) == 0 {
                t = day * 86_400 + (hour + 1) * 3600
                continue
            }
            if minutes & (1 << UInt64(minute)) == 0 {
                t = day * 86_400 + hour * 3600 + (minute + 1) * 60
                continue
            }
            if seconds & (1 << UInt64(second)) == 0 {
                t += 1
                continue
            }
            return t * 1000
        }
        return nil
    }

    func matchesDay(dayOfMonth: Int, weekday: Int) -> Bool {
        let dayMatches = days & (1 << UInt64(dayOfMonth)) != 0
        let weekdayMatches = weekdays & (1 << UInt64(weekday)) != 0
        if daysRestricted && weekdaysRestricted { return dayMatches || weekdayMatches }
        return dayMatches && weekdayMatches
    }

    static func firstDayOfNextMonth(_ day: Int64) -> Int64 {
        let (year, month, _) = CivilDate.date(day)
        return month == 12 ? CivilDate.days(year: year + 1, month: 1, day: 1) : CivilDate.days(year: year, month: month + 1, day: 1)
    }
}
