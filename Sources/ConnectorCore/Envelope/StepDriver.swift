import Foundation

/// The one stdin → stdout driver every step executable uses: read one CloudEvent, run the step, write exactly one
/// JSON result, exit with the sysexits code. Nothing but the result goes to stdout.
package enum StepDriver {
    /// Largest event accepted on stdin.
    package static let maxEventBytes = 16 * 1024 * 1024

    /// Reads one event from `handle` in chunks, stopping as soon as it is larger than `limit`: an oversized input
    /// is refused (bad input, exit 65) after reading `limit + 1` bytes, without waiting for its end or holding it.
    package static func readEvent(from handle: FileHandle, limit: Int = maxEventBytes) throws -> Data {
        var data = Data()
        let chunk = 64 * 1024
        while data.count <= limit {
            let wanted = min(chunk, limit + 1 - data.count)
            guard let piece = try handle.read(upToCount: wanted), !piece.isEmpty else { return data }
            data.append(piece)
        }
        throw ConnectorError(.eventMalformed, "event is larger than \(limit) bytes")
    }

    /// Decodes and checks an event: envelope first, then the type. Every failure is bad input (exit 65).
    package static func decodeEvent(_ data: Data, acceptedTypes: Set<String>) throws -> CloudEvent {
        guard data.count <= maxEventBytes else {
            throw ConnectorError(.eventMalformed, "event is larger than \(maxEventBytes) bytes")
        }
        let trimmed = data.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        guard !trimmed.isEmpty else {
            throw ConnectorError(.eventMalformed, "no event on stdin: expected one CloudEvent JSON document")
        }
        let event: CloudEvent
        do {
            event = try JSONCoding.decodeParsingTrees(CloudEvent.self, from: data)
        } catch let error as DecodingError {
            throw ConnectorError(.eventMalformed, "stdin is not a valid CloudEvent: \(error.safeDescription)")
        } catch {
            throw ConnectorError(.eventMalformed, "stdin is not valid JSON")
        }
        guard acceptedTypes.contains(event.type) else {
            throw ConnectorError(
                .eventTypeUnsupported,
                "event type \(event.type.prefix(120)) is not handled here; expected one of \(acceptedTypes.sorted().joined(separator: ", "))"
            )
        }
        return event
    }

    /// What a step body produced: the result and, for failures, the error that decides the exit code.
    package struct Outcome: Sendable {
        package var result: StepResult
        package var error: ConnectorError?
        package init(result: StepResult, error: ConnectorError? = nil) {
            self.result = result
            self.error = error
        }
    }

    /// Runs a step as a process: never returns.
    package static func main(
        acceptedTypes: Set<String>,
        body: @Sendable (CloudEvent) async throws -> Outcome
    ) async -> Never {
        let started = ContinuousClock.now
        var outcome: Outcome
        do {
            let input: Data
            do {
                input = try readEvent(from: FileHandle.standardInput)
            } catch let error as ConnectorError {
                throw error
            } catch {
                throw ConnectorError(.eventMalformed, "stdin could not be read")
            }
            let event = try decodeEvent(input, acceptedTypes: acceptedTypes)
            ProcessTimings.current?.mark("event")
            outcome = try await body(event)
        } catch {
            let wrapped = ConnectorError.wrap(error)
            outcome = Outcome(result: .failure(wrapped), error: wrapped)
        }
        if outcome.result.metrics.durationMs == 0 {
            outcome.result.metrics.durationMs = Int((ContinuousClock.now - started).timeInterval * 1000)
        }
        let code = outcome.result.exitCode(for: outcome.error)
        write(outcome.result)
        if let timings = ProcessTimings.current {
            timings.mark("result")
            timings.write(
                process: CommandLine.arguments.first.flatMap { $0.split(separator: "/").last.map(String.init) }
                    ?? "step",
                httpRequests: outcome.result.metrics.httpRequests, requests: outcome.result.metrics.requests)
        }
        exit(code.rawValue)
    }

    /// Writes the result as one JSON line on stdout, scrubbed of any known secret.
    package static func write(_ result: StepResult) {
        var data: Data
        do {
            data = try JSONCoding.encode(result)
        } catch {
            data = Data(
                #"{"status":"failed","events":[],"error":{"code":"internal.error","message":"result not encodable","retryable":false},"metrics":{"httpRequests":0,"durationMs":0}}"#
                    .utf8)
        }
        let text = SecretRedactor.scrub(String(decoding: data, as: UTF8.self))
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}
