import ConnectorCore
import Foundation

/// The routing table of the runner: which function consumes which event types, and how many may run at once.
/// It is generated from `functions/*/function.json` at build time (Plugins/FunctionManifests), so the manifests are
/// the one source of truth and the binary needs no repository at run time; `local-runner functions --json` prints it.
struct FunctionSpec: Codable, Sendable, Hashable {
    var name: String
    var events: [String]
    var emits: [String]
    var concurrency: Int
    var timeoutSeconds: Int
    var memoryMiB: Int
    /// The manifest's `trigger.schedule` (how often the runner, or `local-runner schedule`, sends its event).
    var schedule: String? = nil
}

enum FunctionCatalog {
    /// The function manifests themselves, compiled in at build time by the `FunctionManifests` plugin (there is no
    /// hand-kept copy to drift from them).
    static let all: [FunctionSpec] = manifests

    static func consumers(of type: String) -> [FunctionSpec] {
        all.filter { $0.events.contains(type) }
    }

    static func named(_ name: String) -> FunctionSpec? {
        all.first { $0.name == name }
    }
}
