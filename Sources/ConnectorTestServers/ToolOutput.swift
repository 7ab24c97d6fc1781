import Foundation

/// Runs a server's command-line client (`psql`, `redis-cli`) to completion: its exit status and standard output
/// (standard error discarded).
enum ToolOutput {
    static func run(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil) throws -> (
        status: Int32, stdout: Data
    ) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, data)
    }
}
