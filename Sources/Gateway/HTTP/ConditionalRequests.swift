import Net

extension RequestContext {
    /// Answers 304 when `If-None-Match` names `tag` (400 when it is malformed); true when it
    /// answered. `extra` joins the 304's headers (what a cache keys on besides the tag).
    func answeredNotModified(_ tag: EntityTag, extra: [(String, String)] = []) -> Bool {
        let values = request.headerValues("If-None-Match")
        guard !values.isEmpty else { return false }
        guard let condition = try? EntityTag.parse(values.joined(separator: ",")) else {
            send(GatewayError.badRequest("If-None-Match is not a list of entity tags"))
            return true
        }
        guard EntityTag.matchesWeakly(condition, tag) else { return false }
        send(status: .notModified, headers: [("ETag", tag.header)] + extra)
        return true
    }
}
