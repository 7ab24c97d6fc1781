import ConnectorCore
import ConnectorHTTP
import Foundation

/// Sends events to a Knative sink (the broker's address in `K_SINK`) in binary mode; any answer but 2xx fails.
package struct SinkSender: Sendable {
    package let url: String
    package let transport: any HTTPTransport

    package init(url: String, transport: any HTTPTransport) {
        self.url = url
        self.transport = transport
    }

    package func send(_ event: CloudEvent) async throws {
        let (headers, body) = try CloudEventHTTP.binary(event)
        let response = try await transport.send(
            HTTPRequest(method: "POST", url: url, headers: headers, body: body, timeout: .seconds(30), idempotent: true)
        )
        guard (200..<300).contains(response.status) else {
            throw ConnectorError(.upstreamUnavailable, "the sink answered HTTP \(response.status) for \(event.type)")
        }
    }
}
