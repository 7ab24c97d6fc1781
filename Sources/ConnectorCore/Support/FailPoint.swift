import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Named crash points for fault-injection runs: with `MLC_FAILPOINTS="write.sent=0.1,poll.memo=0.05"` the
/// process kills itself with SIGKILL when it reaches a named point (with that probability), after noting the
/// hit in the file named by `MLC_FAILPOINTS_LOG`. Without the variable every point is a no-op; production
/// never sets it. This is how the harness proves that a crash at any recovery point loses and duplicates nothing.
package enum FailPoint {
    private static let configuration: [String: Double] = {
        guard let text = ProcessInfo.processInfo.environment["MLC_FAILPOINTS"], !text.isEmpty else { return [:] }
        var points: [String: Double] = [:]
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let probability = Double(parts[1]) else { continue }
            points[String(parts[0]).trimmingWhitespace(newlines: false)] = probability
        }
        return points
    }()

    /// Reaches the point `name`: may end the process at once, exactly like a power cut or an OOM kill.
    package static func hit(_ name: String) {
        guard let probability = configuration[name] ?? configuration["*"], probability > 0 else { return }
        guard Double.random(in: 0..<1) < probability else { return }
        if let path = ProcessInfo.processInfo.environment["MLC_FAILPOINTS_LOG"] {
            let line = "\(name) \(getpid())\n"
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
            if fd >= 0 {
                _ = line.withCString { write(fd, $0, strlen($0)) }
                close(fd)
            }
        }
        kill(getpid(), SIGKILL)
    }
}
