import ConnectorCore
import ConnectorRunner
import Foundation
import Logging

/// Step executables as small shell scripts in a directory of their own: each records the events it gets on stdin
/// (one JSON line each), optionally sleeps, prints a given result and exits with a given code. The runner and the
/// gateway start them exactly as they start the real steps.
struct FakeSteps {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("mlc-runner-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// Makes `name` a step that answers with `result` (nothing when nil) and `exit`.
    func step(_ name: String, exit: Int32 = 0, result: StepResult?, sleepSeconds: Int? = nil) throws {
        let base = directory.appendingPathComponent(name).path
        var script = "#!/bin/sh\ncat >> '\(base).in'\necho >> '\(base).in'\n"
        if let sleepSeconds { script += "sleep \(sleepSeconds)\n" }
        if let result {
            try JSONCoding.encode(result).write(to: URL(fileURLWithPath: base + ".out"))
            script += "cat '\(base).out'\n"
        }
        script += "exit \(exit)\n"
        try Data(script.utf8).write(to: URL(fileURLWithPath: base))
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: base)
    }

    /// The events `name` got, in order.
    func inputs(_ name: String) throws -> [CloudEvent] {
        let url = directory.appendingPathComponent(name + ".in")
        guard FileManager.default.fileExists(atPath: url.path) else { return [] }
        let text = try String(contentsOf: url, encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONCoding.decode(CloudEvent.self, from: Data($0.utf8)) }
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}

func event(_ type: String, connection: String? = "acme", recordid: String? = nil) -> CloudEvent {
    // A whole-second time, so the event reads back equal after a round trip through JSON.
    CloudEvent(
        source: "urn:test", type: type, time: Date(timeIntervalSince1970: 1_800_000_000), data: .object([:]),
        connection: connection, recordid: recordid)
}

func runner(
    _ store: any StateStore, steps: FakeSteps, maxAttempts: Int = 5, queueName: String = "runner",
    consumer: String = "runner"
) -> Runner {
    Runner(
        store: store,
        options: .init(
            binDirectory: steps.directory, environment: ["PATH": "/usr/bin:/bin"], maxAttempts: maxAttempts,
            baseBackoff: .milliseconds(10), maxBackoff: .milliseconds(20), queueName: queueName, consumer: consumer),
        logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), report: { _ in })
}
