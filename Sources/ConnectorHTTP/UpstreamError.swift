import ConnectorCore
import Foundation

/// Maps a failed API response to a `ConnectorError` the same way for every system, from the status and the
/// system's own error code and message (parsed by the client).
package enum UpstreamError {
    package static func from(
        _ response: HTTPResponse,
        request: HTTPRequest,
        system: String,
        code: String?,
        message: String?,
        now: Date = Date()
    ) -> ConnectorError {
        // Bounded excerpts, scrubbed before they are cut: an upstream may echo our headers or form fields back.
        let detail = [
            code.map { SecretRedactor.excerpt($0, limit: 80) }, message.map { SecretRedactor.excerpt($0, limit: 500) },
        ]
        .compactMap { $0 }
        .joined(separator: ": ")
        let text =
            "\(system) answered HTTP \(response.status) to \(request.method) \(Self.path(request.url))"
            + (detail.isEmpty ? "" : " (\(detail))")
        switch response.status {
        case 401, 403:
            return ConnectorError(.authRejected, text, httpStatus: response.status)
        case 429:
            let wait = RetryAfter.parse(response.header("Retry-After"), now: now) ?? .seconds(60)
            return ConnectorError(
                .httpRateLimited,
                kind: .temporary,
                text,
                retryAt: now.addingTimeInterval(wait.timeInterval),
                httpStatus: response.status
            )
        case 503:
            // "Service unavailable": BC answers it for requests that waited in its queue and never ran.
            let wait = RetryAfter.parse(response.header("Retry-After"), now: now) ?? .seconds(60)
            return ConnectorError(
                .upstreamUnavailable, kind: .temporary, text, retryAt: now.addingTimeInterval(wait.timeInterval),
                httpStatus: response.status)
        case 408, 500, 502, 504:
            if !request.idempotent {
                // The server may have acted before failing: the caller must find out by reading, not by resending.
                return ConnectorError(.ambiguousWrite, text, httpStatus: response.status)
            }
            return ConnectorError(
                .upstreamUnavailable, kind: .temporary, text, retryAt: now.addingTimeInterval(60),
                httpStatus: response.status)
        case 500..<600:
            return ConnectorError(
                .upstreamUnavailable, kind: .temporary, text, retryAt: now.addingTimeInterval(60),
                httpStatus: response.status)
        default:
            return ConnectorError(.upstreamRejected, text, httpStatus: response.status)
        }
    }

    static func path(_ url: String) -> String {
        URLComponents(string: url)?.path ?? ""
    }
}

/// Builds request URLs with percent-encoded query parameters (OData `$filter` values included).
package enum URLBuilder {
    package static func url(_ base: String, path: String, query: [(String, String)] = []) -> String {
        var url = base.trimmingTrailingSlash + (path.hasPrefix("/") ? path : "/" + path)
        if !query.isEmpty {
            url +=
                "?"
                + query.map { name, value in "\(escapeName(name))=\(FormEncoding.escape(value))" }
                .joined(separator: "&")
        }
        return url
    }

    private static func escapeName(_ name: String) -> String {
        // `$` is legal in a query and OData names start with it.
        name.hasPrefix("$") ? "$" + FormEncoding.escape(String(name.dropFirst())) : FormEncoding.escape(name)
    }

    /// Escapes one path segment (an id taken from data).
    package static func segment(_ value: String) -> String {
        FormEncoding.escape(value)
    }
}
