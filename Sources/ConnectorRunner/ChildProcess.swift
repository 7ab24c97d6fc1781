import ConnectorCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs one step executable: the event on stdin (from a file), its result from stdout (to a file), its log lines
/// (stderr) appended to a file. Files instead of pipes, so a large result can never dead-lock the exchange.
///
/// Spawned with `posix_spawn` and reaped with `wait4` on a thread of its own (Foundation's `Process` on Linux can
/// miss the termination of short-lived children when many run at once); `wait4` also reports peak memory.
package enum ChildProcess {
    package struct Output: Sendable {
        package var exitCode: Int32
        /// True when the process ended by a signal (crash, kill, timeout).
        package var signaled: Bool
        package var stdout: Data
        package var durationMs: Int
        /// Wall time from spawn to exit, in milliseconds with fractions.
        package var elapsedMs: Double
        package var pid: Int32
        /// Peak resident set size in KiB.
        package var maxRSSKiB: Int
        /// CPU time of the child in user and kernel mode, in milliseconds (from `wait4`'s usage).
        package var userMs: Double = 0
        package var systemMs: Double = 0
    }

    /// The log path that means "this process's stderr" (`--log -`).
    package static let standardErrorPath = "-"

    /// Where a child's stderr goes.
    package enum ErrorOutput: Sendable {
        case discard
        case inherit
        case append(String)

        /// Appended to the file at `path`; passed to this process's stderr when `path` is
        /// `ChildProcess.standardErrorPath` (`-`); discarded when there is none.
        package static func file(_ path: String?) -> ErrorOutput {
            guard let path else { return .discard }
            return path == ChildProcess.standardErrorPath ? .inherit : .append(path)
        }
    }

    package static func run(
        executable: URL,
        arguments: [String] = [],
        environment: [String: String],
        stdin: Data,
        stderrPath: String?,
        timeout: Duration
    ) async throws -> Output {
        try await run(
            executable: executable, arguments: arguments, environment: environment, stdin: stdin,
            stderr: .file(stderrPath), timeout: timeout
        )
    }

    package static func run(
        executable: URL,
        arguments: [String] = [],
        environment: [String: String],
        stdin: Data,
        stderr: ErrorOutput,
        timeout: Duration,
        niceness: Int32 = 0
    ) async throws -> Output {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("mlc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let inputPath = scratch.appendingPathComponent("in.json").path
        let outputPath = scratch.appendingPathComponent("out.json").path
        try writeScratch(stdin, to: inputPath)

        let started = ContinuousClock.now
        let pid = try spawn(
            executable.path,
            arguments: arguments,
            environment: environment.map { "\($0.key)=\($0.value)" },
            stdin: inputPath,
            stdout: outputPath,
            stderr: stderr
        )
        if niceness > 0 {
            // Relative to the runner's own priority, so a runner started under `nice` keeps its steps below itself.
            // Best effort: the priority only orders steps under CPU contention, and a refusal changes nothing else
            // (a child may run its first instructions at the runner's priority).
            let which = __priority_which_t(PRIO_PROCESS.rawValue)
            _ = setpriority(which, id_t(pid), min(19, getpriority(which, 0) + niceness))
        }
        let exit = await withTaskCancellationHandler {
            await withTaskGroup(of: Exit?.self) { group in
                group.addTask { await waitForExit(pid) }
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return nil
                }
                var result = Exit(status: -1, maxRSSKiB: 0)
                for await finished in group {
                    if let finished {
                        result = finished
                        group.cancelAll()
                        break
                    }
                    // Timed out (or abandoned) and not reaped yet, so the pid is still ours: kill it; its exit
                    // arrives next.
                    kill(pid, SIGKILL)
                }
                return result
            }
        } onCancel: {
            // The caller gave up on the step (the runner is stopping): the child must not outlive it. Its exit is
            // still reaped above, so the pid is never reused under us.
            kill(pid, SIGKILL)
        }
        if Task.isCancelled { throw CancellationError() }
        let stdout = (try? Data(contentsOf: URL(fileURLWithPath: outputPath))) ?? Data()
        let signaled = (exit.status & 0x7F) != 0
        return Output(
            exitCode: signaled ? 128 + (exit.status & 0x7F) : (exit.status >> 8) & 0xFF,
            signaled: signaled,
            stdout: stdout,
            durationMs: Int((ContinuousClock.now - started).timeInterval * 1000),
            elapsedMs: (ContinuousClock.now - started).timeInterval * 1000,
            pid: pid,
            maxRSSKiB: exit.maxRSSKiB,
            userMs: exit.userMs,
            systemMs: exit.systemMs
        )
    }

    package struct Exit: Sendable {
        var status: Int32
        package var maxRSSKiB: Int
        package var userMs: Double = 0
        package var systemMs: Double = 0
    }

    /// Blocks a dedicated thread (never the cooperative pool) in `wait4` until the child ends.
    private static func waitForExit(_ pid: pid_t) async -> Exit {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                var status: Int32 = 0
                var usage = rusage()
                while wait4(pid, &status, 0, &usage) == -1 {
                    if errno != EINTR {
                        continuation.resume(returning: Exit(status: -1, maxRSSKiB: 0))
                        return
                    }
                }
                func ms(_ time: timeval) -> Double { Double(time.tv_sec) * 1000 + Double(time.tv_usec) / 1000 }
                continuation.resume(
                    returning: Exit(
                        status: status, maxRSSKiB: Int(usage.ru_maxrss), userMs: ms(usage.ru_utime),
                        systemMs: ms(usage.ru_stime)))
            }
            thread.start()
        }
    }

    /// Writes a child's input file. `Data.write(to:)` fsyncs what it wrote: a disk flush before every step for a
    /// scratch file that is read once and deleted (a fifth of the runner's time around a step in a profile).
    static func writeScratch(_ data: Data, to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw ConnectorError(
                .internalError, "cannot write a step's input to \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(descriptor, raw.baseAddress.map { $0 + offset }, raw.count - offset)
                if written < 0, errno == EINTR { continue }
                guard written > 0 else {
                    throw ConnectorError(
                        .internalError, "cannot write a step's input to \(path): \(String(cString: strerror(errno)))")
                }
                offset += written
            }
        }
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later; Swift's Glibc module does not declare
    /// it), looked up once; nil where the C library lacks it.
    private static let closeFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? =
        dlsym(
            UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np"
        ).map {
            unsafeBitCast(
                $0, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
        }

    package static func spawn(
        _ path: String,
        arguments: [String],
        environment: [String],
        stdin: String,
        stdout: String,
        stderr: ErrorOutput
    ) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // Nothing else the parent has open reaches the child: a descriptor another thread opened without
        // O_CLOEXEC (a file being written, a database, a socket) would stay open in the step for its whole life. A
        // script still open for writing that way cannot even be executed (ETXTBSY).
        _ = closeFrom.map { $0(&actions, 3) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        switch stderr {
        case .discard: posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        case .inherit: break
        case .append(let path):
            posix_spawn_file_actions_addopen(&actions, 2, path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        }
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        // The runner ignores SIGINT and SIGTERM to stop in order; a child starts with the default handlers and in
        // a process group of its own, so a Ctrl-C at the terminal reaches the runner, which decides what happens
        // to the steps in flight.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGTERM)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        posix_spawnattr_setsigmask(&attributes, &unblocked)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw ConnectorError(.configInvalid, "cannot start \(path): \(String(cString: strerror(result)))")
        }
        return pid
    }
}
