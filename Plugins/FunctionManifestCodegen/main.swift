import Foundation

// Reads functions/<name>/function.json files and writes the Swift routing table the runner compiles in.
// Usage: FunctionManifestCodegen <output.swift> <function.json>...
// A manifest that does not match its directory or carries an ill-formed name fails the build, with the file named.

struct Manifest: Decodable {
    struct Trigger: Decodable {
        var events: [String]
        var schedule: String?
    }
    var name: String
    var trigger: Trigger
    var emits: [String]
    var concurrency: Int
    var timeoutSeconds: Int
    var memoryMiB: Int
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    exit(1)
}

let arguments = CommandLine.arguments.dropFirst()
guard let output = arguments.first else { fail("usage: FunctionManifestCodegen <output.swift> <function.json>...") }

let nameCharacters = Set("abcdefghijklmnopqrstuvwxyz0123456789-")
let eventCharacters = Set("abcdefghijklmnopqrstuvwxyz0123456789._")

var entries: [String] = []
for path in arguments.dropFirst().sorted() {
    let url = URL(fileURLWithPath: path)
    let directory = url.deletingLastPathComponent().lastPathComponent
    let manifest: Manifest
    do {
        manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: url))
    } catch {
        fail("\(path): not a function manifest: \(error)")
    }
    guard manifest.name == directory else { fail("\(path): name \"\(manifest.name)\" differs from its directory") }
    guard !manifest.name.isEmpty, manifest.name.allSatisfy(nameCharacters.contains) else {
        fail("\(path): function names are lower-case letters, digits and '-'")
    }
    for type in manifest.trigger.events + manifest.emits
    where !type.hasPrefix("com.mlconnector.") || !type.allSatisfy(eventCharacters.contains) {
        fail("\(path): event type \"\(type)\" is not com.mlconnector.<noun>.<verb>")
    }
    guard manifest.concurrency >= 1, manifest.timeoutSeconds >= 1, manifest.memoryMiB >= 1 else {
        fail("\(path): concurrency, timeoutSeconds and memoryMiB must be positive")
    }
    func list(_ values: [String]) -> String { "[" + values.map { "\"\($0)\"" }.joined(separator: ", ") + "]" }
    entries.append(
        """
                FunctionSpec(
                    name: "\(manifest.name)",
                    events: \(list(manifest.trigger.events)),
                    emits: \(list(manifest.emits)),
                    concurrency: \(manifest.concurrency),
                    timeoutSeconds: \(manifest.timeoutSeconds),
                    memoryMiB: \(manifest.memoryMiB),
                    schedule: \(manifest.trigger.schedule.map(\.debugDescription) ?? "nil")
                ),
        """)
}

let source = """
    // Generated at build time from functions/*/function.json by the FunctionManifests plugin; do not edit.

    extension FunctionCatalog {
        /// One entry per `functions/<name>/function.json`, in name order.
        static let manifests: [FunctionSpec] = [
    \(entries.joined(separator: "\n"))
        ]
    }

    """
do {
    let data = Data(source.utf8)
    // Leave an unchanged file alone so the build does not recompile the runner for nothing.
    if (try? Data(contentsOf: URL(fileURLWithPath: output))) != data {
        try data.write(to: URL(fileURLWithPath: output), options: .atomic)
    }
} catch {
    fail("cannot write \(output): \(error)")
}
