import Foundation

// `{prefix}/api/v2.0/subscriptions` (reference §1.8) and the `/_sim/bc/...` control routes that change master
// data and tune notification timing.

extension BusinessCentralSimulator {
    /// `GET|POST subscriptions`, `GET|PATCH|DELETE subscriptions('{id}')`; the caller has checked the token.
    func subscriptions(_ request: SimRequest, path: BCPath) async throws(BCError) -> SimResponse {
        let apiBase =
            "http://\(request.authority ?? "127.0.0.1")/v2.0/\(path.tenant ?? tenantId)/\(path.environment)/api/v2.0"
        let key = path.segments.first?.key
        switch (request.method, path.segments.count, key) {
        case ("GET", 1, nil):
            let value = webhooks.subscriptions.map { SimJSON.object($0.json) }
            return .json(
                200,
                .object(
                    SimJSONObject([
                        "@odata.context": .string(apiBase + "/$metadata#subscriptions"), "value": .array(value),
                    ])), headers: [("OData-Version", "4.0")], contentType: Self.jsonContentType)
        case ("POST", 1, nil):
            let body = try Self.subscriptionBody(request, isCreate: true)
            let notificationUrl = body["notificationUrl"]?.stringValue ?? ""
            let resource = body["resource"]?.stringValue ?? ""
            let clientState = body["clientState"]?.stringValue ?? ""
            let target = try BCWebhooks.parseResource(resource, companyExists: store.resolveCompany)
            try await webhooks.handshake(notificationUrl: notificationUrl)
            let created = try webhooks.insert(
                notificationUrl: notificationUrl, resource: resource, clientState: clientState,
                companyId: target.companyId, entitySet: target.entitySet)
            return Self.subscriptionResponse(
                created, status: 201, apiBase: apiBase,
                extraHeaders: [("Location", apiBase + "/subscriptions('\(created.id)')")])
        case ("GET", 1, let id?):
            guard let found = webhooks.subscription(id: id) else { throw BCWebhooks.subscriptionNotFound(id) }
            return Self.subscriptionResponse(found, status: 200, apiBase: apiBase)
        case ("PATCH", 1, let id?):
            let current = try webhooks.checkIfMatch(id: id, ifMatch: request.header("If-Match"))
            let body = try Self.subscriptionBody(request, isCreate: false)
            let notificationUrl = body["notificationUrl"]?.stringValue ?? current.notificationUrl
            let resource = body["resource"]?.stringValue ?? current.resource
            let clientState = body["clientState"]?.stringValue ?? current.clientState
            let target = try BCWebhooks.parseResource(resource, companyExists: store.resolveCompany)
            // Every renewal repeats the handshake (reference §1.8).
            try await webhooks.handshake(notificationUrl: notificationUrl)
            let renewed = try webhooks.renew(
                id: id, etag: current.etag, notificationUrl: notificationUrl, resource: resource,
                clientState: clientState, companyId: target.companyId, entitySet: target.entitySet)
            return Self.subscriptionResponse(renewed, status: 200, apiBase: apiBase)
        case ("DELETE", 1, let id?):
            let current = try webhooks.checkIfMatch(id: id, ifMatch: request.header("If-Match"))
            guard webhooks.remove(id: current.id, reason: "deleted with DELETE subscriptions('{id}')") != nil else {
                throw BCWebhooks.subscriptionNotFound(id)
            }
            return .empty(204, headers: [("OData-Version", "4.0")])
        case (_, 1, _):
            throw BCError(
                405, "BadRequest_MethodNotAllowed",
                "'\(request.method)' requests for 'subscriptions' are not allowed within Microsoft Dynamics 365 Business Central OData web services."
            )
        default:
            let segment = path.segments.dropFirst().first?.name ?? "subscriptions"
            throw BCError(404, "BadRequest_ResourceNotFound", "Resource not found for the segment '\(segment)'.")
        }
    }

    private static func subscriptionResponse(
        _ subscription: BCSubscription,
        status: Int,
        apiBase: String,
        extraHeaders: [(name: String, value: String)] = []
    ) -> SimResponse {
        var object = SimJSONObject(["@odata.context": .string(apiBase + "/$metadata#subscriptions/$entity")])
        for (key, value) in subscription.json { object[key] = value }
        return .json(
            status, .object(object), headers: [("OData-Version", "4.0"), ("ETag", subscription.etag)] + extraHeaders,
            contentType: jsonContentType)
    }

    /// The JSON object of a POST or PATCH: only `notificationUrl`, `resource` and `clientState` (strings), the
    /// first two required on create.
    private static func subscriptionBody(_ request: SimRequest, isCreate: Bool) throws(BCError) -> SimJSONObject {
        let object = try request.bcJSONObjectBody()
        let writable: Set<String> = ["notificationUrl", "resource", "clientState"]
        let readOnly: Set<String> = [
            "subscriptionId", "userId", "lastModifiedDateTime", "expirationDateTime", "timestamp",
        ]
        for (name, value) in object where !name.hasPrefix("@odata.") {
            if readOnly.contains(name) {
                throw BCError(400, "BadRequest_InvalidOperation", "Control '\(name)' is read-only.")
            }
            guard writable.contains(name) else {
                throw BCError.badBody(
                    "Invalid Request Body: the property '\(name)' does not exist on type 'Microsoft.NAV.subscriptions'."
                )
            }
            guard value.stringValue != nil else {
                throw BCError.badBody("Invalid Request Body: '\(name)' must be a string.")
            }
        }
        if isCreate {
            for name in ["notificationUrl", "resource"] where (object[name]?.stringValue ?? "").isEmpty {
                throw BCError.badBody("Invalid Request Body: '\(name)' is required.")
            }
        }
        if let url = object["notificationUrl"]?.stringValue { try BCWebhooks.validateNotificationUrl(url) }
        if let clientState = object["clientState"]?.stringValue { try BCWebhooks.validateClientState(clientState) }
        return object
    }

    // MARK: Control routes

    /// `/_sim/bc/vendors`, `/_sim/bc/accounts`, `/_sim/bc/notifications`, `/_sim/bc/subscriptions`.
    func webhookControl(_ request: SimRequest) -> SimResponse? {
        let rest = String(request.path.dropFirst("/_sim/bc/".count))
        let parts = rest.split(separator: "/", maxSplits: 1).map(String.init)
        guard let collection = parts.first else { return nil }
        let key = parts.count > 1 ? parts[1] : nil
        switch (request.method, collection, key) {
        case ("GET", "subscriptions", nil):
            return .json(200, webhooks.controlJSON)
        case ("GET", "notifications", nil):
            return .json(200, webhooks.settings.json)
        case ("POST", "notifications", nil):
            return configureNotifications(request)
        case ("POST", "vendors", nil), ("POST", "accounts", nil):
            return upsertMasterData(request, collection: collection)
        case ("DELETE", "vendors", let number?), ("DELETE", "accounts", let number?):
            guard let companyId = controlCompany(request.queryValue("companyId")) else {
                return controlError("unknown company", status: 404)
            }
            do throws(BCError) {
                let removed: Bool
                if collection == "vendors" {
                    removed = try store.deleteVendor(companyId: companyId, number: number) != nil
                } else {
                    removed = try store.deleteAccount(companyId: companyId, number: number) != nil
                }
                return removed ? .empty(204) : controlError("no \(collection) entry \(number)", status: 404)
            } catch {
                return controlError(error.message, status: error.status)
            }
        default:
            return nil
        }
    }

    /// The company a control call names, or the first company.
    private func controlCompany(_ requested: String?) -> String? {
        guard let requested else { return store.companies.first?.company.id }
        return store.resolveCompany(requested)
    }

    private func configureNotifications(_ request: SimRequest) -> SimResponse {
        let usage =
            "expected {\"delaySeconds\": N, \"retryDelaysSeconds\": [N, …], \"handshakeTimeoutSeconds\": N, \"deliveryTimeoutSeconds\": N} (all optional)"
        guard let body = try? request.jsonBody(), let object = body.objectValue else { return controlError(usage) }
        func seconds(_ value: SimJSON?) -> TimeInterval? {
            value?.decimalValue.map { NSDecimalNumber(decimal: $0).doubleValue }
        }
        var settings = webhooks.settings
        for (name, value) in object {
            switch name {
            case "delaySeconds":
                guard let number = seconds(value), number >= 0 else { return controlError(usage) }
                settings.notificationDelay = number
            case "retryDelaysSeconds":
                guard let items = value.arrayValue else { return controlError(usage) }
                let delays = items.compactMap(seconds)
                guard delays.count == items.count, delays.allSatisfy({ $0 >= 0 }) else { return controlError(usage) }
                settings.retryDelays = delays
            case "handshakeTimeoutSeconds":
                guard let number = seconds(value), number > 0 else { return controlError(usage) }
                settings.handshakeTimeout = number
            case "deliveryTimeoutSeconds":
                guard let number = seconds(value), number > 0 else { return controlError(usage) }
                settings.deliveryTimeout = number
            default:
                return controlError(usage)
            }
        }
        webhooks.configure(settings)
        return .json(200, settings.json)
    }

    /// `POST /_sim/bc/vendors` `{"companyId"?, "number", "displayName", "blocked"?}` and `POST /_sim/bc/accounts`
    /// `{"companyId"?, "number", "displayName", "blocked"?: bool}`: 201 when created, 200 when changed.
    private func upsertMasterData(_ request: SimRequest, collection: String) -> SimResponse {
        let usage =
            collection == "vendors"
            ? "expected {\"companyId\"?: \"…\", \"number\": \"…\", \"displayName\": \"…\", \"blocked\"?: \" \"|\"Payment\"|\"All\"}"
            : "expected {\"companyId\"?: \"…\", \"number\": \"…\", \"displayName\": \"…\", \"blocked\"?: true|false}"
        guard let body = try? request.jsonBody(), let number = body["number"]?.stringValue, !number.isEmpty,
            let displayName = body["displayName"]?.stringValue
        else { return controlError(usage) }
        guard let companyId = controlCompany(body["companyId"]?.stringValue),
            let company = store.company(id: companyId)
        else { return controlError("unknown company", status: 404) }
        do throws(BCError) {
            if collection == "vendors" {
                let blocked = body["blocked"]?.stringValue
                if let blocked, ![" ", "Payment", "All"].contains(blocked) { return controlError(usage) }
                let (vendor, created) = try store.upsertVendor(
                    companyId: companyId, number: number, displayName: displayName, blocked: blocked)
                return .json(
                    created ? 201 : 200, .object(vendor.json(select: nil, expand: [], company: company)),
                    headers: [("ETag", vendor.etag)])
            }
            if body["blocked"] != nil, body["blocked"]?.boolValue == nil { return controlError(usage) }
            let (account, created) = try store.upsertAccount(
                companyId: companyId, number: number, displayName: displayName, blocked: body["blocked"]?.boolValue)
            return .json(
                created ? 201 : 200, .object(account.json(select: nil, expand: [], company: company)),
                headers: [("ETag", account.etag)])
        } catch {
            return controlError(error.message, status: error.status)
        }
    }
}
