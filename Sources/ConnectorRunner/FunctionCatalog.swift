import ConnectorCore
import Foundation

/// The routing table of the runner: which function consumes which event types, and how many may run at once.
/// It is generated from `functions/*/function.json` at build time (Plugins/FunctionManifests), so the manifests are
/// the one source of truth and the binary needs no repository at run time; `local-runner functions --json` prints it.
package struct FunctionSpec: Codable, Sendable, Hashable {
    package var name: String
    package var events: [String]
    package var emits: [String]
    package var concurrency: Int
    package var timeoutSeconds: Int
    package var memoryMiB: Int
    /// The manifest's `trigger.schedule` (how often the runner, or `local-runner schedule`, sends its event).
    package var schedule: String? = nil
}

package enum FunctionCatalog {
    /// The function manifests themselves, compiled in at build time by the `FunctionManifests` plugin (there is no
    /// hand-kept copy to drift from them).
    package static let all: [FunctionSpec] = manifests

    package static func consumers(of type: String) -> [FunctionSpec] {
        all.filter { $0.events.contains(type) }
    }

    package static func named(_ name: String) -> FunctionSpec? {
        all.first { $0.name == name }
    }

    /// How many steps at most follow `name` in a flow: 0 for a step whose events no step consumes, 1 for one that
    /// feeds only such steps, and so on (a step's own follow-up events, such as a poll's next page, do not count;
    /// cycles are cut).
    package static func stepsAfter(_ name: String) -> Int {
        stepsAfterByName[name] ?? 0
    }

    private static let stepsAfterByName: [String: Int] = {
        func depth(_ name: String, _ path: Set<String>) -> Int {
            guard let spec = named(name) else { return 0 }
            let next = Set(spec.emits.flatMap { consumers(of: $0).map(\.name) }).subtracting(path).subtracting([name])
            return next.map { 1 + depth($0, path.union([name])) }.max() ?? 0
        }
        return Dictionary(uniqueKeysWithValues: all.map { ($0.name, depth($0.name, [])) })
    }()

    /// The CPU priority (nice value) the runner starts `name` at: 3 per step that follows it in a flow, at most 12.
    /// Under CPU contention the steps closest to the end of a flow (writing to the ERP, whose request budget is
    /// the scarce resource) go first and work already in flight finishes before new work starts; with CPU to
    /// spare every step runs as before.
    package static func niceness(of name: String) -> Int32 {
        Int32(min(12, 3 * stepsAfter(name)))
    }
}
