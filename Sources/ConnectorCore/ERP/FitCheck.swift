import Foundation

/// One line of the "see if we fit" report (`ping-connection`, `local-runner ping`): a real check against a real
/// system, what was found, and for a failure what to change on which side.
package struct FitCheck: Sendable, Codable, Hashable {
    package enum Outcome: String, Sendable, Codable, Hashable {
        case pass
        case fail
        /// The system offers no way to check this without changing data; said so instead of guessed.
        case unchecked
    }

    /// `jaggaer`, `businessCentral`, …
    package var system: String
    package var check: String
    package var outcome: Outcome
    package var detail: String
    /// What to change, and where, when the check failed.
    package var fix: String?

    package init(system: String, check: String, outcome: Outcome, detail: String, fix: String? = nil) {
        self.system = system
        self.check = check
        self.outcome = outcome
        self.detail = detail
        self.fix = fix
    }

    /// Runs one check: a thrown error becomes a failure whose detail is the error's (already masked) message and
    /// whose fix `advice` picks from it.
    package static func run(
        _ system: String, _ check: String, advice: (ConnectorError) -> String? = { _ in nil },
        _ body: () async throws -> String
    ) async -> FitCheck {
        do {
            return FitCheck(system: system, check: check, outcome: .pass, detail: try await body())
        } catch {
            let wrapped = ConnectorError.wrap(error)
            return FitCheck(
                system: system, check: check, outcome: .fail,
                detail: SecretRedactor.excerpt(wrapped.message, limit: 400),
                fix: advice(wrapped))
        }
    }
}

/// A system that can say whether a connection fits it, for real, without writing anything.
package protocol FitChecking: Sendable {
    func fitChecks() async -> [FitCheck]
}
