import Foundation
import Net
import Yams

/// A scenario file (YAML, or JSON, which YAML reads too): a weighted mix of requests, optional
/// stages and thresholds. Every error names the file and line.
///
/// ```yaml
/// requests:
///   - name: search            # optional
///     weight: 3               # default 1
///     method: POST            # default GET
///     url: /v1/collections/notes/query   # relative to --url, or absolute http://…
///     headers: {Content-Type: application/json, Authorization: "Bearer {{line:keys.txt}}"}
///     body: '{"query_embeddings": [{{fvecs:queries.fvecs}}], "n_results": 10}'
///   - url: /healthz
/// stages:                     # open loop: ramp to each rate over each duration
///                             # (or `connections: N` instead of `rate`: a closed loop ramping
///                             #  its active connections)
///   - {duration: 10s, rate: 1000}
///   - {duration: 30s, rate: 1000}
///   - {duration: 5s, rate: 0}
/// thresholds: ["p99<20ms", "errors<0.1%"]
/// ```
public struct Scenario: Sendable {
    public var templates: [RequestTemplate]
    public var stages: RateSchedule?
    /// Stages that ramp connections (closed loop) rather than the rate.
    public var connectionStages: RateSchedule?
    public var thresholds: [Threshold]

    public static func load(path: String, target: Target) throws(LoadTestError) -> Scenario {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw .invalid("cannot read \(path)") }
        let base = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        return try parse(text, name: path, target: target, baseDirectory: base)
    }

    public static func parse(_ text: String, name: String, target: Target, baseDirectory: String) throws(LoadTestError) -> Scenario {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { throw LoadTestError.invalid("\(name): the scenario is empty") }
            root = node
        } catch let error as LoadTestError {
            throw error
        } catch let error as YamlError {
            throw .invalid("\(name): \(yamlMessage(error))")
        } catch {
            throw .invalid("\(name): \(error)")
        }
        func at(_ node: Node) -> String { "\(name):\((node.mark?.line).map(String.init) ?? "?")" }
        guard let mapping = root.mapping else { throw .invalid("\(at(root)): the scenario must be a mapping with `requests:`") }
        var templates: [RequestTemplate] = []
        var stages: RateSchedule?
        var connectionStages: RateSchedule?
        var thresholds: [Threshold] = []
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else { throw .invalid("\(at(keyNode)): keys must be strings") }
            switch key {
            case "requests":
                guard let list = value.sequence, !list.isEmpty else { throw .invalid("\(at(value)): `requests` must be a non-empty list") }
                for item in list { templates.append(try request(item, at: at, target: target, baseDirectory: baseDirectory)) }
            case "stages":
                guard let list = value.sequence, !list.isEmpty else { throw .invalid("\(at(value)): `stages` must be a non-empty list") }
                var parsed: [(Double, Double)] = []
                var rampsConnections: Bool?
                for item in list {
                    guard let stage = item.mapping else { throw .invalid("\(at(item)): a stage is {duration: 10s, rate: 100} or {duration: 10s, connections: 50}") }
                    var duration: Double?, rate: Double?
                    for (k, v) in stage {
                        switch k.string {
                        case "duration":
                            guard let d = v.string.flatMap(DurationText.seconds), d > 0 else { throw .invalid("\(at(v)): duration like 10s, 500ms or 2m") }
                            duration = d
                        case "rate", "connections":
                            let isConnections = k.string == "connections"
                            if let previous = rampsConnections, previous != isConnections {
                                throw .invalid("\(at(k)): stages ramp either rate or connections, not both")
                            }
                            rampsConnections = isConnections
                            guard let r = v.string.flatMap(Double.init), r >= 0, !isConnections || r == r.rounded() else {
                                throw .invalid("\(at(v)): \(isConnections ? "connections is a whole number ≥ 0" : "rate is requests per second ≥ 0")")
                            }
                            rate = r
                        default: throw .invalid("\(at(k)): unknown stage field '\(k.string ?? "?")' (duration, rate, connections)")
                        }
                    }
                    guard let duration, let rate else { throw .invalid("\(at(item)): a stage needs duration and rate (or connections)") }
                    parsed.append((duration, rate))
                }
                if rampsConnections == true {
                    connectionStages = .stages(parsed)
                } else {
                    stages = .stages(parsed)
                }
            case "thresholds":
                guard let list = value.sequence else { throw .invalid("\(at(value)): `thresholds` is a list like [\"p99<20ms\"]") }
                for item in list {
                    guard let text = item.string else { throw .invalid("\(at(item)): a threshold is a string") }
                    do { thresholds.append(try Threshold(text)) } catch { throw .invalid("\(at(item)): \(error)") }
                }
            default:
                throw .invalid("\(at(keyNode)): unknown key '\(key)' (requests, stages, thresholds)")
            }
        }
        guard !templates.isEmpty else { throw .invalid("\(name): the scenario has no `requests`") }
        return Scenario(templates: templates, stages: stages, connectionStages: connectionStages, thresholds: thresholds)
    }

    static func request(_ node: Node, at: (Node) -> String, target: Target, baseDirectory: String) throws(LoadTestError) -> RequestTemplate {
        guard let fields = node.mapping else { throw .invalid("\(at(node)): a request is a mapping with at least `url`") }
        var method = "GET", url: String?, weight = 1, body: String?, name: String?
        var headers: [(String, String)] = []
        for (k, v) in fields {
            switch k.string {
            case "name":
                guard let n = v.string, !n.isEmpty, n.count <= 200 else { throw .invalid("\(at(v)): name is a non-empty string") }
                name = n
            case "method":
                guard let m = v.string, ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"].contains(m.uppercased()) else {
                    throw .invalid("\(at(v)): method is GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS")
                }
                method = m
            case "url": url = v.string
            case "weight":
                guard let w = v.string.flatMap(Int.init), w >= 1 else { throw .invalid("\(at(v)): weight is a whole number ≥ 1") }
                weight = w
            case "body": body = v.string
            case "headers":
                guard let map = v.mapping else { throw .invalid("\(at(v)): headers is a mapping of name: value") }
                for (hk, hv) in map {
                    guard let name = hk.string, let value = hv.string else { throw .invalid("\(at(hk)): header names and values are strings") }
                    headers.append((name, value))
                }
            default: throw .invalid("\(at(k)): unknown request field '\(k.string ?? "?")' (name, method, url, weight, headers, body)")
            }
        }
        guard let url else { throw .invalid("\(at(node)): the request has no `url`") }
        var path = url
        if url.hasPrefix("http://") {
            let other = try Target(url: url)
            guard other.host == target.host && other.port == target.port else {
                throw .invalid("\(at(node)): every request goes to --url's host and port (\(target.authority))")
            }
            path = other.path
        } else if !url.hasPrefix("/") {
            throw .invalid("\(at(node)): url is a path starting with / or an http:// URL")
        }
        do {
            return try RequestTemplate(method: method, path: path, headers: headers, body: body, weight: weight,
                                       authority: target.authority, baseDirectory: baseDirectory, name: name)
        } catch {
            throw .invalid("\(at(node)): \(error)")
        }
    }

    static func yamlMessage(_ error: YamlError) -> String {
        "\(error)".split(separator: "\n").prefix(3).joined(separator: " ")
    }
}
