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
}
