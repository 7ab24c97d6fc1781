import Foundation
import PackagePlugin

/// Compiles `functions/*/function.json` into the target that applies it, so the manifests are the runner's routing
/// table itself (not a copy checked against them) and travel inside the binary into containers and `.build/debug`.
///
/// Build-tool plugins may read the package's own files on Linux (no sandbox there; on macOS the sandbox allows
/// reading the package and writing only the plugin work directory, which is all this needs). Every manifest is a
/// declared input, so editing one regenerates the table; the directory is listed anew at every build, so adding
/// a function needs no edit here.
@main
struct FunctionManifests: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        let functions = context.package.directoryURL.appendingPathComponent("functions")
        let names = try FileManager.default.contentsOfDirectory(atPath: functions.path).sorted()
        let manifests = names.map { functions.appendingPathComponent($0).appendingPathComponent("function.json") }
            .filter { FileManager.default.fileExists(atPath: $0.path) }
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("FunctionManifests.generated.swift")
        return [
            .buildCommand(
                displayName: "Generating the function catalog from \(manifests.count) function manifests",
                executable: try context.tool(named: "FunctionManifestCodegen").url,
                arguments: [output.path] + manifests.map(\.path),
                inputFiles: manifests,
                outputFiles: [output]
            )
        ]
    }
}
