import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The system's monotonic clock in nanoseconds (`CLOCK_MONOTONIC`): the same in every process, so a parent's
/// spawn time and a child's marks can be compared.
package enum MonotonicClock {
    package static func nanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}

/// Where one process's time goes, for `local-runner bench`: when `MLC_TIMINGS` names a file, a step (and the runner)
/// appends one JSON line to it on exit with named marks on the monotonic clock, every store operation (through
/// `TimedStateStore`) and, when `MLC_TIMINGS_SPAWN_NS` says when the parent spawned it, that instant too.
/// Without `MLC_TIMINGS` nothing is recorded or written.
package final class ProcessTimings: Sendable {
    package struct Report: Sendable, Codable {
        package var process: String
        package var pid: Int32
        package var spawnNs: UInt64?
        package var marks: [Mark]
        package var store: [StoreCallLog.Call]?
        package var storeSummary: [String: StoreCallLog.Totals]
        package var httpRequests: Int?
        /// Requests by `"<host> <status>"`, as in the step's result metrics.
        package var requests: [String: Int]?
    }

    package struct Mark: Sendable, Codable, Hashable {
        package var name: String
        package var ns: UInt64
    }

    /// The instance of this process, or nil when timings are off.
    package static let current: ProcessTimings? = {
        guard let path = ProcessInfo.processInfo.environment["MLC_TIMINGS"], !path.isEmpty else { return nil }
        return ProcessTimings(path: path)
    }()

    package let path: String
    package let store = StoreCallLog()
    private let marks = Mutex<[Mark]>([])

    init(path: String) {
        self.path = path
    }

    /// Records that the process reached `name` now.
    package func mark(_ name: String) {
        let mark = Mark(name: name, ns: MonotonicClock.nanoseconds())
        marks.withLock { $0.append(mark) }
    }

    /// Appends this process's line to the file. `storeCalls`: every call (a step's few), or only the summary (the
    /// runner's thousands).
    package func write(
        process: String, httpRequests: Int? = nil, requests: [String: Int]? = nil, storeCalls: Bool = true
    ) {
        let spawn = ProcessInfo.processInfo.environment["MLC_TIMINGS_SPAWN_NS"].flatMap { UInt64($0) }
        let report = Report(
            process: process, pid: getpid(), spawnNs: spawn, marks: marks.withLock { $0 },
            store: storeCalls ? store.all : nil, storeSummary: store.summary, httpRequests: httpRequests,
            requests: requests)
        guard var line = try? JSONCoding.encode(report) else { return }
        line.append(0x0A)
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        line.withUnsafeBytes { bytes in
            _ = Glibc.write(descriptor, bytes.baseAddress, bytes.count)
        }
    }
}
