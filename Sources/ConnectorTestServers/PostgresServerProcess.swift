import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A private PostgreSQL server for one test: `initdb` into a temporary directory, `postgres` on a free loopback port
/// (password login for the superuser `mlc`; fsync off, so only a machine crash could lose data: a killed server keeps
/// every committed row), stopped by `stop()` (and when
/// released). A missing PostgreSQL is an error with the install hint: the PostgreSQL suites never skip.
///
/// PostgreSQL refuses to run as root. When the tests run as root (CI, containers) both programs run as the
/// `postgres` account that Debian's package creates, through `setpriv --reuid --regid --init-groups` (util-linux;
/// unlike `runuser` it execs, so the process started here IS the postmaster and signals reach it directly), in a
/// temporary directory that account owns.
package final class PostgresServerProcess: Sendable {
    package let port: Int
    package let user = "mlc"
    package let password: String
    /// The temporary directory (data directory, password file, log), removed by `stop()`.
    package let directory: String
    private let binDirectory: String
    private let process: Mutex<Process?>

    package struct Failure: Error, CustomStringConvertible {
        package var description: String
    }

    private static let installHint =
        "the PostgreSQL store tests need PostgreSQL's server programs: `sudo apt-get install -y postgresql` (or `make test`, which installs it)"

    /// The directory holding `initdb` and `postgres`: the newest `/usr/lib/postgresql/<version>/bin` (where Debian
    /// puts them, off PATH), else the directory of an `initdb` on PATH.
    package static func binDirectory() -> String? {
        let fileManager = FileManager.default
        let versions = ((try? fileManager.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .compactMap { name in Int(name.split(separator: ".").first ?? "").map { (name, $0) } }
            .sorted { $0.1 > $1.1 }
        for (name, _) in versions {
            let bin = "/usr/lib/postgresql/\(name)/bin"
            if fileManager.isExecutableFile(atPath: bin + "/initdb"),
                fileManager.isExecutableFile(atPath: bin + "/postgres")
            {
                return bin
            }
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in path.split(separator: ":").map(String.init)
        where fileManager.isExecutableFile(atPath: directory + "/initdb")
            && fileManager.isExecutableFile(atPath: directory + "/postgres")
        {
            return directory
        }
        return nil
    }

    /// The account the server runs as when this process is root: uid and gid of `postgres`.
    private static func serverAccount() throws -> (uid: uid_t, gid: gid_t)? {
        guard geteuid() == 0 else { return nil }
        guard let entry = getpwnam("postgres") else {
            throw Failure(
                description:
                    "PostgreSQL refuses to run as root and there is no `postgres` account to run it as; \(installHint)")
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
            throw Failure(description: "running PostgreSQL as `postgres` needs /usr/bin/setpriv (util-linux)")
        }
        return (entry.pointee.pw_uid, entry.pointee.pw_gid)
    }

    /// Creates a cluster and starts a server on it, waiting until it accepts connections.
    package init(password: String = "pw-\(UUID().uuidString.prefix(8))") throws {
        guard let bin = Self.binDirectory() else {
            throw Failure(description: "initdb was not found; \(Self.installHint)")
        }
        binDirectory = bin
        self.password = password
        let account = try Self.serverAccount()
        var template = Array((FileManager.default.temporaryDirectory.path + "/mlc-pg-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw Failure(description: "cannot make a temporary directory") }
        let directory = String(cString: made)
        self.directory = directory
        do {
            try Data(password.utf8).write(to: URL(fileURLWithPath: directory + "/password"))
            if let account {
                for path in [directory, directory + "/password"] { _ = chown(path, account.uid, account.gid) }
            }
            _ = chmod(directory + "/password", 0o600)
            let initdb = try Self.launch(
                bin + "/initdb",
                [
                    "-D", directory + "/data", "-U", "mlc", "--pwfile=" + directory + "/password",
                    "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync",
                ], as: account, log: directory + "/initdb.log")
            initdb.waitUntilExit()
            guard initdb.terminationStatus == 0 else {
                throw Failure(
                    description: "initdb failed (\(initdb.terminationStatus)): \(Self.tail(directory + "/initdb.log"))")
            }
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        var lastError = "did not start"
        for _ in 0..<5 {
            let port = try RedisServerProcess.freePort()
            do {
                let process = try Self.startServer(bin: bin, directory: directory, port: port, as: account)
                if Self.waitUntilReady(directory: directory, process: process) {
                    self.port = port
                    self.process = Mutex(process)
                    return
                }
                Self.terminate(process)
                lastError = Self.tail(directory + "/postgres.log")
            } catch {
                lastError = "\(error)"
            }
        }
        try? FileManager.default.removeItem(atPath: directory)
        throw Failure(description: "postgres did not start on a loopback port: \(lastError)")
    }

    /// `postgres://mlc:<password>@127.0.0.1:<port>/<database>`.
    package func url(database: String = "postgres") -> String {
        "postgres://\(user):\(password)@127.0.0.1:\(port)/\(database)"
    }

    /// Creates a database (with `createdb`, over TCP with the password).
    package func createDatabase(_ name: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binDirectory + "/createdb")
        process.arguments = ["-h", "127.0.0.1", "-p", String(port), "-U", user, name]
        process.environment = ["PGPASSWORD": password, "PATH": "/usr/bin:/bin"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "createdb \(name) failed (\(process.terminationStatus))")
        }
    }

    /// Runs SQL with `psql` (over TCP with the password), stopping at the first error: what a test writes behind a
    /// store's back (a foreign row, an older schema).
    package func psql(_ sql: String, database: String = "postgres") throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binDirectory + "/psql")
        process.arguments = [
            "-h", "127.0.0.1", "-p", String(port), "-U", user, "-d", database, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql,
        ]
        process.environment = ["PGPASSWORD": password, "PATH": "/usr/bin:/bin"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "psql failed (\(process.terminationStatus)): \(sql.prefix(200))")
        }
    }

    /// Runs one query with `psql` and returns its unaligned output (`-At`): what a test asks the server behind a
    /// store's back (e.g. its sessions in `pg_stat_activity`).
    package func query(_ sql: String, database: String = "postgres") throws -> String {
        let (status, data) = try ToolOutput.run(
            URL(fileURLWithPath: binDirectory + "/psql"),
            [
                "-h", "127.0.0.1", "-p", String(port), "-U", user, "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c",
                sql,
            ],
            environment: ["PGPASSWORD": password, "PATH": "/usr/bin:/bin"])
        guard status == 0 else { throw Failure(description: "psql failed (\(status)): \(sql.prefix(200))") }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Stops the server the way a crash would: SIGQUIT is PostgreSQL's immediate shutdown (every backend exits at
    /// once, every client connection drops, nothing is checkpointed); SIGKILL after five seconds. The data
    /// directory stays until the value is released, so `start()` can bring the same server back.
    package func stop() {
        process.withLock { process in
            guard let running = process else { return }
            Self.terminate(running)
            process = nil
        }
    }

    /// Starts the stopped server again on the same port and data (crash recovery included).
    package func start() throws {
        let account = try Self.serverAccount()
        try process.withLock { process in
            guard process == nil else { return }
            let started = try Self.startServer(bin: binDirectory, directory: directory, port: port, as: account)
            guard Self.waitUntilReady(directory: directory, process: started) else {
                Self.terminate(started)
                throw Failure(description: "postgres did not start again: \(Self.tail(directory + "/postgres.log"))")
            }
            process = started
        }
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    // MARK: - Processes

    private static func launch(
        _ executable: String, _ arguments: [String], as account: (uid: uid_t, gid: gid_t)?, log: String
    )
        throws -> Process
    {
        let process = Process()
        if account != nil {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", executable] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        }
        // A minimal environment: no PG* variable of the caller's may change what the server does.
        process.environment = ["PATH": "/usr/bin:/bin", "LANG": "C", "LC_ALL": "C"]
        process.currentDirectoryURL = URL(fileURLWithPath: "/")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        if let account { _ = chown(log, account.uid, account.gid) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? handle.close()
        return process
    }

    private static func startServer(bin: String, directory: String, port: Int, as account: (uid: uid_t, gid: gid_t)?)
        throws -> Process
    {
        try launch(
            bin + "/postgres",
            [
                "-D", directory + "/data", "-p", String(port), "-c", "listen_addresses=127.0.0.1",
                "-c", "unix_socket_directories=" + directory, "-c", "fsync=off",
                "-c", "full_page_writes=off", "-c", "max_connections=100",
            ], as: account, log: directory + "/postgres.log")
    }

    /// Ready when `postmaster.pid` says so (its status line reads "ready" once connections are accepted, after any
    /// crash recovery).
    private static func waitUntilReady(directory: String, process: Process) -> Bool {
        for _ in 0..<600 {
            guard process.isRunning else { return false }
            // The first line is the postmaster's pid: a file left by an earlier, killed server does not count.
            if let text = try? String(contentsOfFile: directory + "/data/postmaster.pid", encoding: .utf8),
                case let lines = text.split(separator: "\n"), lines.first == "\(process.processIdentifier)",
                lines.contains(where: { $0.trimmingCharacters(in: .whitespaces) == "ready" })
            {
                return true
            }
            usleep(50_000)
        }
        return false
    }

    private static func terminate(_ process: Process) {
        guard process.isRunning else {
            process.waitUntilExit()
            return
        }
        kill(process.processIdentifier, SIGQUIT)
        for _ in 0..<100 where process.isRunning { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    private static func tail(_ path: String) -> String {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "no log").suffix(600).description
    }
}
