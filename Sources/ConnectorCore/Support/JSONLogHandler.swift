import Foundation
import Logging
import Synchronization

/// swift-log handler writing one JSON object per line to stderr (stdout belongs to the step result). Every line
/// passes through `SecretRedactor`.
package struct JSONLogHandler: LogHandler {
    package var metadata: Logger.Metadata = [:]
    package var logLevel: Logger.Level
    private let label: String

    package init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var object: [String: JSONValue] = [
            "ts": .string(Timestamp.format(Date())),
            "level": .string(event.level.rawValue),
            "logger": .string(label),
            "msg": .string(SecretRedactor.scrub(event.message.description)),
        ]
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        for (key, value) in merged {
            object[key] = .string(SecretRedactor.scrub(value.description))
        }
        guard var line = try? JSONCoding.encode(JSONValue.object(object)) else { return }
        line.append(0x0A)
        StandardError.write(line)
    }

    private static let bootstrapped = Mutex(false)

    /// Sets up logging for the process: JSON lines on stderr, level from `MLC_LOG_LEVEL` (default info).
    /// Safe to call more than once (swift-log allows one bootstrap per process; later calls do nothing).
    package static func bootstrap(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let first = bootstrapped.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        let level = environment["MLC_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
    }
}

/// Writes to stderr without interleaving lines from concurrent tasks.
package enum StandardError {
    private static let lock = Mutex(())

    package static func write(_ data: Data) {
        lock.withLock { _ in
            FileHandle.standardError.write(data)
        }
    }

    package static func write(_ text: String) {
        write(Data(text.utf8))
    }
}
