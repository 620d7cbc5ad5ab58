/// How long an upstream asked to be left alone: `retry-after-ms` (milliseconds, fractional)
/// first, then `Retry-After` (seconds, fractional; an HTTP-date is not honoured — a clock
/// skew between hosts makes it meaningless for the short waits a proxy can afford), as the
/// `openai` client reads them.
enum RetryAfter {
    static func milliseconds(_ headerValue: (String) -> String?) -> UInt64? {
        if let text = headerValue("retry-after-ms"), let ms = Double(text), ms.isFinite, ms >= 0 {
            return UInt64(ms.rounded(.up))
        }
        if let text = headerValue("retry-after"), let s = Double(text), s.isFinite, s >= 0, s < 86_400 {
            return UInt64((s * 1000).rounded(.up))
        }
        return nil
    }
}
