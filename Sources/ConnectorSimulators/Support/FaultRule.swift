import Foundation
import Synchronization

/// One fault-injection rule. A rule matches requests by system, method, path template and/or raw path prefix,
/// and fires on the next `count` matching requests (unlimited when `count` is nil), each time with
/// `probability` (drawn from a SplitMix64 seeded with `seed`, so runs are repeatable).
///
/// JSON form (for `POST /_sim/faults`, an array of these):
/// `{"kind":"status","status":429,"retryAfter":2,"method":"POST","endpoint":"purchaseInvoices","count":3}`,
/// `{"kind":"latency","latencyMs":250,"pathPrefix":"/v2.0/","probability":0.5,"seed":7}`,
/// `{"kind":"dropAfterCommit","method":"POST","endpoint":"purchaseInvoices","count":1}`,
/// `{"kind":"dropBeforeCommit"}`, `{"kind":"expireTokens","count":1}`, `{"kind":"expireSessions","count":1}`.
package struct FaultRule: Sendable, Equatable {
    /// What the rule does to a matching request.
    package enum Kind: String, Sendable, CaseIterable {
        /// Reply with `status`, a system-appropriate error body and optional `Retry-After`; nothing is performed.
        case status
        /// Sleep `latencyMs`, then handle the request normally.
        case latency
        /// Do nothing and abort the connection: the response head promises a body that never comes.
        case dropBeforeCommit
        /// Perform the request fully, then abort the response mid-body (announced Content-Length not met).
        case dropAfterCommit
        /// Invalidate every token issued so far, then handle the request normally.
        case expireTokens
        /// End every open session (SAP Business One Service Layer), then handle the request normally: the request
        /// itself then meets an expired session. Apps without sessions treat it like `expireTokens`.
        case expireSessions
    }

    package var kind: Kind
    /// `bc`, `entra`, `jaggaer`, `keycloak` or `sapBusinessOne`; nil matches any system served by the app.
    package var system: String?
    /// HTTP method (case-insensitive); nil matches any.
    package var method: String?
    /// Exact path template as used by the counters (`purchaseInvoices`, `invoices/{id}`, `token`); nil matches any.
    package var endpoint: String?
    /// Prefix of the raw request path (`/v2.0/`); nil matches any.
    package var pathPrefix: String?
    /// How many matching requests the rule fires on; nil = every one until cleared.
    package var count: Int?
    /// Chance of firing on each matching request; nil = always.
    package var probability: Double?
    /// Seed for the probability draws.
    package var seed: UInt64
    /// HTTP status for `.status`.
    package var status: Int
    /// `Retry-After` seconds for `.status`.
    package var retryAfter: Int?
    /// Delay for `.latency`.
    package var latencyMs: Int
    /// Optional error code to put in the body of a `.status` reply instead of the default for the status.
    package var errorCode: String?

    package init(
        kind: Kind,
        system: String? = nil,
        method: String? = nil,
        endpoint: String? = nil,
        pathPrefix: String? = nil,
        count: Int? = nil,
        probability: Double? = nil,
        seed: UInt64 = 0,
        status: Int = 503,
        retryAfter: Int? = nil,
        latencyMs: Int = 0,
        errorCode: String? = nil
    ) {
        self.kind = kind
        self.system = system
        self.method = method
        self.endpoint = endpoint
        self.pathPrefix = pathPrefix
        self.count = count
        self.probability = probability
        self.seed = seed
        self.status = status
        self.retryAfter = retryAfter
        self.latencyMs = latencyMs
        self.errorCode = errorCode
    }

    /// Reply with an HTTP error status (429 bursts, 5xx).
    package static func status(
        _ status: Int,
        retryAfter: Int? = nil,
        system: String? = nil,
        method: String? = nil,
        endpoint: String? = nil,
        count: Int? = 1
    ) -> FaultRule {
        FaultRule(
            kind: .status, system: system, method: method, endpoint: endpoint, count: count, status: status,
            retryAfter: retryAfter)
    }

    /// Delay matching requests.
    package static func latency(
        milliseconds: Int,
        system: String? = nil,
        method: String? = nil,
        endpoint: String? = nil,
        count: Int? = nil
    ) -> FaultRule {
        FaultRule(
            kind: .latency, system: system, method: method, endpoint: endpoint, count: count,
            latencyMs: milliseconds)
    }

    /// Abort matching requests without performing them.
    package static func dropBeforeCommit(
        system: String? = nil,
        method: String? = nil,
        endpoint: String? = nil,
        count: Int? = 1
    ) -> FaultRule {
        FaultRule(kind: .dropBeforeCommit, system: system, method: method, endpoint: endpoint, count: count)
    }

    /// Perform matching requests, then abort their responses.
    package static func dropAfterCommit(
        system: String? = nil,
        method: String? = nil,
        endpoint: String? = nil,
        count: Int? = 1
    ) -> FaultRule {
        FaultRule(kind: .dropAfterCommit, system: system, method: method, endpoint: endpoint, count: count)
    }

    /// Invalidate all issued tokens when a matching request arrives.
    package static func expireTokens(
        system: String? = nil,
        method: String? = nil,
        endpoint: String? = nil,
        count: Int? = 1
    ) -> FaultRule {
        FaultRule(kind: .expireTokens, system: system, method: method, endpoint: endpoint, count: count)
    }

    /// End all sessions when a matching request arrives (SAP Business One).
    package static func expireSessions(
        system: String? = nil,
        method: String? = nil,
        endpoint: String? = nil,
        count: Int? = 1
    ) -> FaultRule {
        FaultRule(kind: .expireSessions, system: system, method: method, endpoint: endpoint, count: count)
    }

    func matches(system: String, method: String, endpoint: String, path: String) -> Bool {
        if let wanted = self.system, wanted != system { return false }
        if let wanted = self.method, wanted.uppercased() != method { return false }
        if let wanted = self.endpoint, wanted != "*", wanted != endpoint { return false }
        if let wanted = self.pathPrefix, !path.hasPrefix(wanted) { return false }
        return true
    }
}

// MARK: JSON

extension FaultRule {
    /// Decodes a rule from its JSON form (see the type's documentation).
    package init(json: SimJSON) throws(SimulatorInputError) {
        guard let object = json.objectValue else { throw SimulatorInputError("a fault rule must be a JSON object") }
        let known: Set<String> = [
            "kind", "system", "method", "endpoint", "path", "pathPrefix", "count", "probability", "seed", "status",
            "retryAfter", "latencyMs", "errorCode",
        ]
        for (key, _) in object where !known.contains(key) {
            throw SimulatorInputError("unknown fault rule field '\(key)'")
        }
        guard let kindText = object["kind"]?.stringValue, let kind = Kind(rawValue: kindText) else {
            let kinds = Kind.allCases.map(\.rawValue).joined(separator: ", ")
            throw SimulatorInputError("fault rule 'kind' must be one of: \(kinds)")
        }
        func string(_ key: String) throws(SimulatorInputError) -> String? {
            guard let value = object[key], !value.isNull else { return nil }
            guard let text = value.stringValue else { throw SimulatorInputError("'\(key)' must be a string") }
            return text
        }
        func int(_ key: String) throws(SimulatorInputError) -> Int? {
            guard let value = object[key], !value.isNull else { return nil }
            guard let number = value.intValue else { throw SimulatorInputError("'\(key)' must be an integer") }
            return number
        }
        var probability: Double?
        if let value = object["probability"], !value.isNull {
            guard let decimal = value.decimalValue else { throw SimulatorInputError("'probability' must be a number") }
            probability = NSDecimalNumber(decimal: decimal).doubleValue
        }
        var endpoint = try string("endpoint")
        if endpoint == nil { endpoint = try string("path") }
        self.init(
            kind: kind,
            system: try string("system"),
            method: try string("method")?.uppercased(),
            endpoint: endpoint,
            pathPrefix: try string("pathPrefix"),
            count: try int("count"),
            probability: probability,
            seed: UInt64(clamping: try int("seed") ?? 0),
            status: try int("status") ?? (kind == .status ? 503 : 0),
            retryAfter: try int("retryAfter"),
            latencyMs: try int("latencyMs") ?? 0,
            errorCode: try string("errorCode")
        )
        if let count, count < 0 { throw SimulatorInputError("'count' must not be negative") }
        if let probability, !(0...1).contains(probability) {
            throw SimulatorInputError("'probability' must be between 0 and 1")
        }
        if kind == .status, !(100...599).contains(status) { throw SimulatorInputError("'status' must be 100...599") }
    }

    /// The rule's JSON form.
    package var json: SimJSON {
        var object = SimJSONObject()
        object["kind"] = .string(kind.rawValue)
        if let system { object["system"] = .string(system) }
        if let method { object["method"] = .string(method) }
        if let endpoint { object["endpoint"] = .string(endpoint) }
        if let pathPrefix { object["pathPrefix"] = .string(pathPrefix) }
        if let count { object["count"] = .int(count) }
        if let probability { object["probability"] = .number(String(probability)) }
        if seed != 0 { object["seed"] = .number(String(seed)) }
        if kind == .status { object["status"] = .int(status) }
        if let retryAfter { object["retryAfter"] = .int(retryAfter) }
        if kind == .latency { object["latencyMs"] = .int(latencyMs) }
        if let errorCode { object["errorCode"] = .string(errorCode) }
        return .object(object)
    }
}

/// A bad value given to a simulator's control API.
package struct SimulatorInputError: Error, CustomStringConvertible, Sendable {
    package let message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

/// The active fault rules of one simulated system (or app), consumed as requests match them.
package final class FaultInjector: Sendable {
    private struct Active {
        var rule: FaultRule
        var remaining: Int?
        var rng: SplitMix64
    }

    private let rules = Mutex<[Active]>([])
    private let firedCounts = Mutex<[String: Int]>([:])

    package init() {}

    /// How many faults fired so far, by kind (`status` faults also by code, e.g. `status 503`).
    package var fired: [String: Int] { firedCounts.withLock { $0 } }

    /// Adds rules after the existing ones (first matching rule wins).
    package func add(_ newRules: [FaultRule]) {
        rules.withLock { list in
            for rule in newRules where rule.count != 0 {
                list.append(Active(rule: rule, remaining: rule.count, rng: SplitMix64(seed: rule.seed)))
            }
        }
    }

    /// Adds one rule.
    package func add(_ rule: FaultRule) { add([rule]) }

    /// Removes every rule.
    package func clear() {
        rules.withLock { $0.removeAll() }
    }

    /// The rules still active, with `count` showing what is left of each.
    package var activeRules: [FaultRule] {
        rules.withLock { list in
            list.map { active in
                var rule = active.rule
                rule.count = active.remaining
                return rule
            }
        }
    }

    /// Finds the first rule that fires for this request and consumes one use of it.
    func consume(system: String, method: String, endpoint: String, path: String) -> FaultRule? {
        rules.withLock { list in
            for index in list.indices {
                guard list[index].rule.matches(system: system, method: method, endpoint: endpoint, path: path) else {
                    continue
                }
                if let probability = list[index].rule.probability, !list[index].rng.chance(probability) { continue }
                let rule = list[index].rule
                let label = rule.kind == .status ? "status \(rule.status)" : rule.kind.rawValue
                firedCounts.withLock { $0[label, default: 0] += 1 }
                if let remaining = list[index].remaining {
                    if remaining <= 1 {
                        list.remove(at: index)
                    } else {
                        list[index].remaining = remaining - 1
                    }
                }
                return rule
            }
            return nil
        }
    }
}
