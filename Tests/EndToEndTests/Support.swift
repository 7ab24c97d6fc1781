import ConnectorCore
import ConnectorRunner
import ConnectorRuntime
import Foundation
import Testing

/// The built executables (next to the test bundle) and a way to run them as black boxes.
enum Binaries {
    static let directory: URL = {
        if let path = ProcessInfo.processInfo.environment["MLC_FUNCTIONS_BIN"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    }()

    /// The repository root (for the function manifests).
    static let repository: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }()

    struct Run: Sendable {
        var exitCode: Int32
        var stdout: Data
        var stderr: String
        var text: String { String(decoding: stdout, as: UTF8.self) }
    }

    static func run(
        _ name: String,
        _ arguments: [String] = [],
        stdin: Data = Data(),
        environment: [String: String],
        timeout: Duration = .seconds(600)
    ) async throws -> Run {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("mlc-e2e-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let output = try await ChildProcess.run(
            executable: directory.appendingPathComponent(name),
            arguments: arguments,
            environment: environment,
            stdin: stdin,
            stderrPath: log,
            timeout: timeout
        )
        let stderr = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return Run(exitCode: output.exitCode, stdout: output.stdout, stderr: stderr)
    }

    /// A minimal environment: PATH, the state URL and the master key (and nothing inherited that could hide a
    /// missing setting).
    static func environment(state: String, key: String?) -> [String: String] {
        var environment = ["PATH": "/usr/bin:/bin", "MLC_STATE": state, "MLC_LOG_LEVEL": "info"]
        if let key { environment["MLC_MASTER_KEY"] = key }
        environment["MLC_FUNCTIONS_BIN"] = directory.path
        return environment
    }
}

/// Every key and value of a SQLite store file, for "nothing changed" checks.
func snapshot(_ path: String) async throws -> [String: Data] {
    let store = try await StateStores.open("sqlite:" + path)
    var result: [String: Data] = [:]
    for entry in try await store.scanAll(prefix: "") { result[entry.key] = entry.value.data }
    try await store.close()
    return result
}
