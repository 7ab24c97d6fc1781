import ConnectorCore
import ConnectorRunner
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A Fission environment runtime for the step executables, in the image's own Debian userland (Fission's `binary`
/// environment is Alpine, where the glibc-linked steps cannot run). It keeps the `binary` environment's contract
/// (fission/environments `binary/server.go`), so Fission's fetcher and router drive it as they drive that one:
///
/// - `POST /specialize` (v1: the code is at `/userfunc/user`) and `POST /v2/specialize` (a JSON
///   `{"filepath", "functionName"}` from the fetcher; a directory's file is `filepath/functionName`) load the function's
///   code once; a second specialization is refused with 400.
/// - Any other request runs the code once: a shell script (run with `/bin/sh`, e.g. `exec /usr/local/bin/<step>`) or
///   an executable, with the request body on stdin and its stdout as the answer; CGI variables (`REQUEST_METHOD`,
///   `REQUEST_URI`, `CONTENT_LENGTH`, `HTTP_<HEADER>`) added to the container's own environment, so the step reads
///   `MLC_STATE` and the master key as it does everywhere.
/// - `GET /healthz` answers 200.
///
/// Where the `binary` environment answers 500 with Go's error text for any non-zero exit, this one answers as the
/// Knative adapter does (``StepAdapter/failure(_:timeout:)``): 400 for a refused event, 422 for a failure for good,
/// 503/502/500 for what a retry may fix, with a JSON error body. A Fission message-queue trigger sends any answer but
/// 200 to its error topic; an HTTP caller can tell the cases apart.
package final class FissionEnvironment: Sendable {
    /// Where Fission's v1 specialization puts the function's code.
    package static let defaultCodePath = "/userfunc/user"
    /// The directories Fission's `binary` environment adds to the code's `PATH`.
    static let fetchedPaths = ["/userfunc/deployarchive", "/userfunc"]

    /// The specialized function: what to run, the name its metrics and log lines carry, and how long it may run.
    struct Code: Sendable {
        var executable: URL
        var arguments: [String]
        var name: String
        var timeout: Duration
    }

    let environment: [String: String]
    let timeout: Duration
    let codePath: String
    let logger: Logger
    let metrics: RunnerMetrics?
    private let code = Mutex<Code?>(nil)

    package init(
        environment: [String: String], timeout: Duration, codePath: String = FissionEnvironment.defaultCodePath,
        logger: Logger, metrics: RunnerMetrics? = nil
    ) {
        self.environment = environment
        self.timeout = timeout
        self.codePath = codePath
        self.logger = logger
        self.metrics = metrics
    }

    /// Fission's function load request (`FunctionLoadRequest`); every field is optional.
    struct LoadRequest: Decodable {
        var filepath: String?
        var functionName: String?
        var url: String?
    }

    /// Loads the function's code from the fetched file (v2) or from the v1 path.
    package func specialize(body: Data) -> StepAdapter.Answer {
        let request: LoadRequest
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            request = LoadRequest()
        } else {
            do {
                request = try JSONDecoder().decode(LoadRequest.self, from: body)
            } catch {
                return .error(
                    400, code: "fission.load_request",
                    message: "the load request is not a JSON object with filepath and functionName", retryable: false)
            }
        }
        var path = codePath
        if let file = request.filepath, !file.isEmpty {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory) else {
                return .error(400, code: "fission.no_code", message: "\(file) does not exist", retryable: false)
            }
            path = file
            if isDirectory.boolValue {
                guard let name = request.functionName, !name.isEmpty, !name.contains("..") else {
                    return .error(
                        400, code: "fission.no_code",
                        message: "\(file) is a directory: name the function's file in it with functionName",
                        retryable: false)
                }
                path = URL(fileURLWithPath: file).appendingPathComponent(name).path
            }
        }
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            attributes[.type] as? FileAttributeType == .typeRegular
        else {
            return .error(400, code: "fission.no_code", message: "\(path) is not a regular file", retryable: false)
        }
        let name =
            request.functionName.flatMap { $0.isEmpty ? nil : $0 } ?? URL(fileURLWithPath: path).lastPathComponent
        // A function named after a step (infra/fission) is killed at that step's own timeout (its manifest's).
        let limit = FunctionCatalog.all.first { $0.name == name }.map { Duration.seconds($0.timeoutSeconds) }
        let loaded = Self.code(at: path, name: name, timeout: limit ?? timeout)
        let taken = code.withLock { current -> Bool in
            guard current == nil else { return true }
            current = loaded
            return false
        }
        guard !taken else {
            return .error(400, code: "fission.specialized", message: "already specialized", retryable: false)
        }
        logger.info(
            "specialized",
            metadata: [
                "function": "\(name)", "code": "\(path)", "runs": "\(loaded.executable.path)",
                "timeout": "\(loaded.timeout)",
            ])
        return Answer(status: 200, headers: [], body: Data())
    }

    typealias Answer = StepAdapter.Answer

    /// An executable (ELF) runs as it is; anything else is a script for `/bin/sh`, as in the `binary` environment.
    static func code(at path: String, name: String, timeout: Duration) -> Code {
        let head = FileHandle(forReadingAtPath: path).flatMap { try? $0.read(upToCount: 4) } ?? Data()
        if head == Data([0x7F, 0x45, 0x4C, 0x46]), FileManager.default.isExecutableFile(atPath: path) {
            return Code(executable: URL(fileURLWithPath: path), arguments: [], name: name, timeout: timeout)
        }
        return Code(executable: URL(fileURLWithPath: "/bin/sh"), arguments: [path], name: name, timeout: timeout)
    }

    /// Runs the specialized code once with `body` on stdin; never throws.
    package func invoke(method: String, uri: String, headers: [(name: String, value: String)], body: Data) async
        -> StepAdapter.Answer
    {
        guard let code = code.withLock({ $0 }) else {
            return .error(
                503, code: "fission.not_specialized", message: "the environment has no function yet", retryable: true)
        }
        let invocation: StepInvocation
        do {
            invocation = try await StepInvocation.run(
                body, executable: code.executable, arguments: code.arguments,
                environment: Self.cgiEnvironment(environment, method: method, uri: uri, headers: headers, body: body),
                stderr: .inherit, timeout: code.timeout)
        } catch {
            logger.error(
                "cannot start the function",
                metadata: ["function": "\(code.name)", "error": "\(ConnectorError.wrap(error).message)"])
            return .error(
                500, code: "adapter.step_unavailable", message: "the function could not be started", retryable: true)
        }
        let output = invocation.output
        metrics?.stepFinished(step: code.name, result: invocation.result, duration: .milliseconds(output.durationMs))
        logger.info(
            "invocation",
            metadata: [
                "function": "\(code.name)", "exit": "\(output.exitCode)", "signaled": "\(output.signaled)",
                "status": "\(invocation.result?.status.rawValue ?? "-")",
                "code": "\(invocation.result?.error?.code ?? "-")", "durationMs": "\(output.durationMs)",
            ])
        guard output.signaled || output.exitCode != 0 else {
            // The `binary` environment's answer: stdout as it is.
            let type: [(name: String, value: String)] =
                invocation.result == nil ? [] : [("content-type", "application/json")]
            return Answer(status: 200, headers: type, body: output.stdout)
        }
        return StepAdapter.failure(invocation, timeout: code.timeout)
    }

    /// The container's environment plus the request's CGI variables. A header becomes `HTTP_<NAME>` (upper case,
    /// `-` as `_`, first value only); `Proxy` is left out (httpoxy: it would become `HTTP_PROXY`, which HTTP clients
    /// read as their proxy), and so is any header whose name is not a plain token.
    static func cgiEnvironment(
        _ base: [String: String], method: String, uri: String, headers: [(name: String, value: String)], body: Data
    ) -> [String: String] {
        var environment = base
        var set: Set<String> = []
        for (name, value) in headers where name.lowercased() != "proxy" && isToken(name) && !value.utf8.contains(0) {
            let variable = "HTTP_" + name.uppercased().replacingOccurrences(of: "-", with: "_")
            if set.insert(variable).inserted { environment[variable] = value }
        }
        environment["REQUEST_METHOD"] = method
        environment["REQUEST_URI"] = uri
        environment["CONTENT_LENGTH"] = String(body.count)
        let path = base["PATH"].flatMap { $0.isEmpty ? nil : $0 } ?? "/usr/local/bin:/usr/bin:/bin"
        environment["PATH"] = ([path] + fetchedPaths).joined(separator: ":")
        return environment
    }

    /// Letters, digits, `-` and `_`: a header name that makes a plain variable name.
    static func isToken(_ name: String) -> Bool {
        !name.isEmpty
            && name.unicodeScalars.allSatisfy {
                $0.isASCII && ($0 == "-" || $0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0))
            }
    }

    /// The environment's HTTP server (Fission talks to port 8888) as a service for a `ServiceGroup`.
    package func service(host: String, port: Int, onListening: @escaping @Sendable (Int) -> Void) -> any Service {
        EventServer.serve(
            Responder(environment: self), host: host, port: port, logger: logger, onListening: onListening)
    }

    private struct Responder: HTTPResponder {
        typealias Context = BasicRequestContext
        let environment: FissionEnvironment

        func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
            let path = request.uri.path
            if request.method == .get, path == "/healthz" {
                return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "ok")))
            }
            guard let body = await EventServer.body(of: request) else { return EventServer.tooLarge }
            if path == "/specialize" || path == "/v2/specialize" {
                guard request.method == .post else {
                    return EventServer.response(
                        .error(405, code: "adapter.method", message: "specialize with POST", retryable: false))
                }
                return EventServer.response(environment.specialize(body: body))
            }
            let headers = request.headers.map { (name: $0.name.canonicalName, value: $0.value) }
            return EventServer.response(
                await environment.invoke(
                    method: request.method.rawValue, uri: request.uri.description, headers: headers, body: body))
        }
    }
}
