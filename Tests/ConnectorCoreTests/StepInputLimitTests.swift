import ConnectorCore
import Foundation
import Testing

@Suite("Step input limit")
struct StepInputLimitTests {
    /// The writer never closes its end: a reader that waits for the end of the input (as `readDataToEndOfFile`
    /// did, holding all of it in memory first) would never return.
    @Test("reading stops at limit + 1 bytes and refuses the event without waiting for the end of the input")
    func stopsAtLimit() async throws {
        let pipe = Pipe()
        let limit = 100_000
        let writer = pipe.fileHandleForWriting
        // More than a pipe holds: written alongside the reader, and the write end stays open afterwards.
        let writing = Task.detached { try? writer.write(contentsOf: Data(repeating: 0x20, count: limit + 10_000)) }
        let reader = pipe.fileHandleForReading
        let result = Task.detached { () -> ConnectorError? in
            do {
                _ = try StepDriver.readEvent(from: reader, limit: limit)
                return nil
            } catch {
                return error as? ConnectorError
            }
        }
        enum Outcome: Sendable {
            case finished(ConnectorError?)
            case timedOut
        }
        let outcome = try await withThrowingTaskGroup(of: Outcome.self) { group in
            group.addTask { .finished(await result.value) }
            group.addTask {
                try await Task.sleep(for: .seconds(20))
                return .timedOut
            }
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
        await writing.value
        try pipe.fileHandleForWriting.close()
        guard case .finished(let finished) = outcome else {
            Issue.record("readEvent did not stop at its limit")
            return
        }
        let error = try #require(finished, "an oversized input was accepted")
        #expect(error.code == .eventMalformed)
        #expect(error.exitCode == .dataError)
        #expect(error.message.contains("larger than \(limit) bytes"))
    }

    @Test("an event within the limit is read whole")
    func readsWhole() throws {
        let pipe = Pipe()
        let body = Data(#"{"specversion":"1.0"}"#.utf8)
        try pipe.fileHandleForWriting.write(contentsOf: body)
        try pipe.fileHandleForWriting.close()
        #expect(try StepDriver.readEvent(from: pipe.fileHandleForReading, limit: body.count) == body)
    }
}
