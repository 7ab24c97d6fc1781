import ArgumentParser
import ConnectorCore
import ConnectorRunner
import ConnectorRuntime
import Foundation

/// `local-runner ping <connection>`: "ping your real systems, see if we fit". Runs `ping-connection` (a step like
/// any other, so the same executable answers on a function platform) and prints each check with what to change.
struct Ping: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Checks a connection against its real systems (sign-in, company or endpoint, read access and a sample of each entity) and says what to change; writes nothing to either system.",
        discussion: "Exit 0 when every check passed, 1 when one failed, 78 when the connection can't be used at all."
    )
    @OptionGroup var store: StoreOptions
    @Argument(help: "The connection id (default: the only one).") var connection: String?
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        await guarded {
            let state = try await store.open(.readOnly)
            let id = try await resolveConnection(connection, state: state)
            try await state.close()
            guard let spec = FunctionCatalog.named("ping-connection") else {
                throw ConnectorError(.internalError, "this build has no ping-connection function")
            }
            let event = CloudEvent(
                source: "urn:mlconnector:operator", type: EventType.pingRequested, data: .object([:]),
                connection: id, flow: "ping")
            var environment = ProcessInfo.processInfo.environment
            environment["MLC_STATE"] = try store.url()
            let output = try await ChildProcess.run(
                executable: functionsDirectory().appendingPathComponent(spec.name), environment: environment,
                stdin: try JSONCoding.encode(event), stderr: .discard, timeout: .seconds(spec.timeoutSeconds))
            guard let result = try? JSONCoding.decode(StepResult.self, from: output.stdout) else {
                throw ConnectorError(.internalError, "ping-connection ended without a result (exit \(output.exitCode))")
            }
            guard output.exitCode == 0, let report = result.fitReport else {
                if let error = result.error {
                    throw ConnectorError(
                        ConnectorError.Code(error.code), kind: output.exitCode == 78 ? .configuration : .unavailable,
                        error.message)
                }
                throw ArgumentParser.ExitCode(output.exitCode == 0 ? 70 : output.exitCode)
            }
            if json {
                try printJSON(report)
            } else {
                print("connection \(id):")
                for check in report {
                    let mark =
                        switch check.outcome {
                        case .pass: "PASS"
                        case .fail: "FAIL"
                        case .unchecked: "----"
                        }
                    print("  \(mark)  \(check.system): \(check.check): \(check.detail)")
                    if let fix = check.fix, check.outcome != .pass { print("        fix: \(fix)") }
                }
                let failed = report.filter { $0.outcome == .fail }.count
                print(failed == 0 ? "fits: every check passed" : "\(failed) check(s) failed")
            }
            if report.contains(where: { $0.outcome == .fail }) { throw ArgumentParser.ExitCode(1) }
        }
    }
}
