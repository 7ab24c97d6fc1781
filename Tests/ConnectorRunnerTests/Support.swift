import ConnectorCore
import ConnectorRunner
import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Step executables as one small shell script, linked under each step's name in a directory of its own: a step
/// records the events it gets on stdin (one JSON line each, in one append, so steps running at once do not mix
/// their lines), optionally sleeps, prints its given result and exits
/// with its given code. The runner and the gateway start them exactly as they start the real steps.
///
/// The script is written once per process (closed on exec) and steps are symlinks to it, so no test writes an
/// executable while another test's child could hold it open for writing (`posix_spawn` would fail with ETXTBSY).
struct FakeSteps {
    let directory: URL

    static let script: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mlc-fake-step-\(UUID().uuidString)")
            .path
        let text = """
            #!/bin/sh
            input="$(cat)"
            printf '%s\n' "$input" >> "$0.in"
            if [ -f "$0.sleep" ]; then sleep "$(cat "$0.sleep")"; fi
            if [ -f "$0.out" ]; then cat "$0.out"; fi
            exit "$(cat "$0.exit")"

            """
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
        precondition(fd >= 0, "cannot write \(path)")
        let written = text.utf8CString.withUnsafeBytes { write(fd, $0.baseAddress, $0.count - 1) }
        precondition(written == text.utf8.count, "cannot write \(path)")
        close(fd)
        return path
    }()

    /// Every step of the catalog is there (the runner refuses a directory that lacks one); a step a test does not set
    /// up crashes: exit 70 with no result.
    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("mlc-runner-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for spec in FunctionCatalog.all { try step(spec.name, exit: 70, result: nil) }
    }

    /// Makes `name` a step that answers with `result` (nothing when nil) and `exit`.
    func step(_ name: String, exit: Int32 = 0, result: StepResult?, sleepSeconds: Int? = nil) throws {
        let base = directory.appendingPathComponent(name).path
        if !FileManager.default.fileExists(atPath: base) {
            try FileManager.default.createSymbolicLink(atPath: base, withDestinationPath: Self.script)
        }
        try Data("\(exit)".utf8).write(to: URL(fileURLWithPath: base + ".exit"))
        try? FileManager.default.removeItem(atPath: base + ".sleep")
        if let sleepSeconds { try Data("\(sleepSeconds)".utf8).write(to: URL(fileURLWithPath: base + ".sleep")) }
        try? FileManager.default.removeItem(atPath: base + ".out")
        if let result { try JSONCoding.encode(result).write(to: URL(fileURLWithPath: base + ".out")) }
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
    consumer: String = "runner", rescan: Duration = .milliseconds(500)
) -> Runner {
    Runner(
        store: store,
        options: .init(
            binDirectory: steps.directory, environment: ["PATH": "/usr/bin:/bin"], maxAttempts: maxAttempts,
            baseBackoff: .milliseconds(10), maxBackoff: .milliseconds(20), queueName: queueName, consumer: consumer,
            rescan: rescan),
        logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), report: { _ in })
}
