import ConnectorCore
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A private `redis-server` for one test: on a free loopback port, in a temporary directory, with no persistence,
/// stopped by `stop()` (and when released). A missing `redis-server` is an error with the install hint: the Redis
/// suites never skip.
package final class RedisServerProcess: Sendable {
    package let port: Int
    package let directory: TemporaryDirectory
    private let process: Mutex<Process?>

    package struct Missing: Error, CustomStringConvertible {
        package var description: String
    }

    /// The `redis-server` binary on PATH or where Debian puts it.
    package static func executable() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let candidates = path.split(separator: ":").map { "\($0)/redis-server" } + ["/usr/bin/redis-server"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Starts a server and waits until it accepts connections.
    package init(password: String? = nil) throws {
        guard let executable = Self.executable() else {
            throw Missing(
                description:
                    "redis-server is not installed; the Redis store tests need it: `sudo apt-get install -y redis-server libhiredis-dev` (or `make test`, which installs both)"
            )
        }
        let directory = try TemporaryDirectory()
        self.directory = directory
        self.password = password
        var lastError = "did not start"
        for _ in 0..<5 {
            let port = try Self.freePort()
            do {
                let process = try Self.launch(executable, directory: directory.path, port: port, password)
                self.port = port
                self.process = Mutex(process)
                return
            } catch {
                lastError = error.description
            }
        }
        throw Missing(description: "redis-server did not start on a loopback port: \(lastError)")
    }

    private let password: String?

    /// Starts the server again on its port after `stop()` (an empty one: nothing is kept on disk).
    package func start() throws {
        guard let executable = Self.executable() else { throw Missing(description: "redis-server is gone") }
        let started = try Self.launch(executable, directory: directory.path, port: port, password)
        process.withLock { $0 = started }
    }

    private static func launch(_ executable: String, directory: String, port: Int, _ password: String?) throws(Missing)
        -> Process
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var arguments = [
            "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", directory, "--daemonize", "no", "--logfile", directory + "/redis.log",
        ]
        if let password { arguments += ["--requirepass", password] }
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw Missing(description: "cannot run \(executable): \(error)")
        }
        if waitUntilListening(port: port, process: process) { return process }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        throw Missing(
            description: (try? String(contentsOfFile: directory + "/redis.log", encoding: .utf8))?.suffix(400)
                .description ?? "no log")
    }

    /// Runs `redis-cli` against the server (installed with redis-server) and returns what it printed: what a test
    /// asks the server behind a store's back (e.g. `CLIENT LIST`).
    package func cli(_ arguments: [String]) throws -> String {
        guard let executable = Self.executable() else { throw Missing(description: "redis-server is gone") }
        let (status, data) = try ToolOutput.run(
            URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("redis-cli"),
            ["-h", "127.0.0.1", "-p", String(port)] + (password.map { ["--no-auth-warning", "-a", $0] } ?? [])
                + arguments)
        guard status == 0 else {
            throw Missing(description: "redis-cli \(arguments.joined(separator: " ")) failed (\(status))")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// `redis://127.0.0.1:<port>/<db>`.
    package func url(database: Int = 0) -> String { "redis://127.0.0.1:\(port)/\(database)" }

    /// Stops the server and waits for it to exit. Always SIGKILL: the server keeps nothing on disk, and it inherits
    /// the test process's blocked signals (SIGTERM would wait forever). `abruptly` documents a crash in a test.
    package func stop(abruptly: Bool = false) {
        process.withLock { process in
            guard let running = process else { return }
            if running.isRunning { kill(running.processIdentifier, SIGKILL) }
            running.waitUntilExit()
            process = nil
            // (SIGKILL ends a frozen server too.)
        }
    }

    /// Freezes the server (SIGSTOP): its connections stay open but nothing answers, as with a hung server or a
    /// network partition. `thaw()` resumes it with its data.
    package func freeze() {
        process.withLock { process in
            if let running = process, running.isRunning { kill(running.processIdentifier, SIGSTOP) }
        }
    }

    /// Resumes a frozen server (SIGCONT).
    package func thaw() {
        process.withLock { process in
            if let running = process, running.isRunning { kill(running.processIdentifier, SIGCONT) }
        }
    }

    deinit { stop() }

    /// A port the kernel just handed out on 127.0.0.1 (closed again, so redis-server can bind it).
    static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Missing(description: "cannot open a socket to find a free port") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                guard bind(descriptor, socketAddress, length) == 0 else { return false }
                return getsockname(descriptor, socketAddress, &length) == 0
            }
        }
        guard bound else { throw Missing(description: "cannot bind a loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func waitUntilListening(port: Int, process: Process) -> Bool {
        for _ in 0..<100 {
            guard process.isRunning else { return false }
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            close(descriptor)
            if connected { return true }
            usleep(50_000)
        }
        return false
    }
}
