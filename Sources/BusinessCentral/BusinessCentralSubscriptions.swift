import ConnectorCore
import ConnectorHTTP
import Foundation

/// A webhook subscription (`/api/v2.0/subscriptions`, environment-wide, not per company).
package struct BCSubscription: Codable, Sendable, Hashable {
    package var subscriptionId: String
    package var notificationUrl: String
    package var resource: String
    package var clientState: String?
    package var expirationDateTime: Date?
    package var etag: String?

    private enum CodingKeys: String, CodingKey {
        case subscriptionId, notificationUrl, resource, clientState, expirationDateTime
        case etag = "@odata.etag"
    }

    package init(
        subscriptionId: String, notificationUrl: String, resource: String, clientState: String?,
        expirationDateTime: Date?, etag: String?
    ) {
        self.subscriptionId = subscriptionId
        self.notificationUrl = notificationUrl
        self.resource = resource
        self.clientState = clientState
        self.expirationDateTime = expirationDateTime
        self.etag = etag
    }
}

/// The body of a create or an update.
package struct BCSubscriptionRequest: Encodable, Sendable, Hashable {
    package var notificationUrl: String
    package var resource: String
    package var clientState: String

    package init(notificationUrl: String, resource: String, clientState: String) {
        self.notificationUrl = notificationUrl
        self.resource = resource
        self.clientState = clientState
    }
}

extension BusinessCentralClient {
    /// Subscription ids are strings BC generates (32 hex digits in the docs); they are quoted in URLs, so anything
    /// but letters, digits and dashes is refused before it reaches one.
    static func subscriptionKey(_ id: String) throws -> String {
        guard !id.isEmpty, id.count <= 64, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") })
        else {
            throw ConnectorError(.upstreamMalformed, "Business Central sent an unusable subscription id")
        }
        return "subscriptions('\(id)')"
    }

    package func subscriptions() async throws -> [BCSubscription] {
        try await list(URLBuilder.url(apiRoot, path: "/subscriptions"))
    }

    /// Creates a subscription. BC calls `notificationUrl` with a `validationToken` first and answers 201 only
    /// after that handshake succeeded.
    package func createSubscription(_ body: BCSubscriptionRequest) async throws -> BCSubscription {
        let request = HTTPRequest(
            method: "POST",
            url: URLBuilder.url(apiRoot, path: "/subscriptions"),
            headers: [("Content-Type", "application/json"), ("Accept", "application/json")],
            body: try JSONCoding.encode(body),
            timeout: timeout,
            // A second subscription for the same URL and resource is harmless (the renewal step removes extras).
            idempotent: true
        )
        return try await send(request)
    }

    /// Renews (and updates) a subscription: another handshake, then three more days. `If-Match` is required.
    package func renewSubscription(_ subscription: BCSubscription, _ body: BCSubscriptionRequest) async throws
        -> BCSubscription
    {
        let request = HTTPRequest(
            method: "PATCH",
            url: URLBuilder.url(apiRoot, path: "/" + (try Self.subscriptionKey(subscription.subscriptionId))),
            headers: [
                ("Content-Type", "application/json"), ("Accept", "application/json"),
                ("If-Match", subscription.etag ?? "*"),
            ],
            body: try JSONCoding.encode(body),
            timeout: timeout,
            idempotent: true
        )
        return try await send(request)
    }

    package func deleteSubscription(_ subscription: BCSubscription) async throws {
        let request = HTTPRequest(
            method: "DELETE",
            url: URLBuilder.url(apiRoot, path: "/" + (try Self.subscriptionKey(subscription.subscriptionId))),
            headers: [("If-Match", subscription.etag ?? "*")],
            timeout: timeout,
            idempotent: true
        )
        let response = try await transport.send(request)
        guard response.isSuccess || response.status == 404 else { throw Self.error(response, request: request) }
    }
}
