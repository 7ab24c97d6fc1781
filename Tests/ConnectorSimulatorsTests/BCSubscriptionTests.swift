import ConnectorSimulators
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

@Suite("Business Central webhook subscriptions", .serialized)
struct BCSubscriptionTests {
    @Test("create: handshake with the validation token, then 201 with the subscription, expiring in 3 days")
    func createWithHandshake() async throws {
        try await withWebhookRig { host, subscriber, token in
            let resource = "/api/v2.0/companies(\(host.companyId))/vendors"
            let created = try await host.subscribe(
                subscriber.url, resource: resource, clientState: "s3cret", token: token)
            #expect(created.status == 201, "\(created.text)")
            let object = try #require(created.json)
            let id = try #require(object["subscriptionId"]?.stringValue)
            #expect(id.count == 32 && id.allSatisfy(\.isHexDigit))
            #expect(object["notificationUrl"] == .string(subscriber.url))
            #expect(object["resource"] == .string(resource))
            #expect(object["clientState"] == .string("s3cret"))
            #expect(object["expirationDateTime"] == .string(iso(rigStart.addingTimeInterval(3 * 86_400))))
            #expect(object["lastModifiedDateTime"] == .string(iso(rigStart)))
            #expect(object["userId"]?.stringValue?.count == 36)
            #expect(object["timestamp"]?.intValue != nil)
            let etag = try #require(object["@odata.etag"]?.stringValue)
            #expect(etag.hasPrefix("W/\""))
            #expect(created.header("ETag") == etag)
            #expect(created.header("Location")?.hasSuffix("/subscriptions('\(id)')") == true)

            let handshakes = subscriber.handshakes
            #expect(handshakes.count == 1)
            #expect(handshakes.first?.method == "POST")
            #expect(handshakes.first?.token.isEmpty == false)

            let list = try await HTTP.get(host.subscriptionsURL, token: token)
            #expect(list.status == 200)
            #expect(list.json?["value"]?.arrayValue?.count == 1)
            let one = try await HTTP.get(host.subscriptionsURL + "('\(id)')", token: token)
            #expect(one.status == 200)
            #expect(one.json?["subscriptionId"] == .string(id))
            #expect(one.json?["@odata.etag"] == .string(etag))

            // The tenant-less prefix and an absolute resource work as well.
            let envOnly = "\(host.businessCentralBaseURL)/v2.0/\(host.businessCentral.environmentName)/api/v2.0"
            let absolute =
                "https://api.businesscentral.dynamics.com/v2.0/\(host.tenant.credentials.entraTenantId)/production/api/v2.0/companies(\(host.companyId))/accounts"
            let second = try await HTTP.json(
                "POST", envOnly + "/subscriptions", token: token,
                body: .object(
                    SimJSONObject(["notificationUrl": .string(subscriber.url), "resource": .string(absolute)])))
            #expect(second.status == 201, "\(second.text)")
            #expect(second.json?["resource"] == .string(absolute))
            #expect(second.json?["clientState"] == .string(""))
            let listed = try await HTTP.get(envOnly + "/subscriptions", token: token)
            #expect(listed.json?["value"]?.arrayValue?.count == 2)

            #expect(host.counters["bc POST subscriptions"] == 2)
            #expect(host.counters["bc GET subscriptions({id})"] == 1)
            #expect(host.counters["bc handshake 200"] == 2)
            let unauthenticated = try await HTTP.get(host.subscriptionsURL)
            #expect(unauthenticated.status == 401)
        }
    }

    @Test(
        "create is refused when the subscriber does not confirm the handshake",
        arguments: ["/wrong-token", "/missing", "/slow", "/status-202"])
    func handshakeRefused(path: String) async throws {
        // Timeouts are short here only, so that the slow subscriber (3 s) runs into them even on a busy machine.
        try await withWebhookRig(timeout: 0.5) { host, subscriber, token in
            let started = ContinuousClock.now
            let created = try await host.subscribe(subscriber.base + path, resource: host.vendorsResource, token: token)
            #expect(created.status == 400, "\(created.text)")
            #expect(created.bcErrorCode == "Application_DialogException")
            #expect(created.bcErrorMessage?.contains("CorrelationId") == true)
            #expect(ContinuousClock.now - started < .seconds(2.5), "the handshake timeout (0.5 s) applies")
            #expect(subscriber.handshakes.count == 1)
            let list = try await HTTP.get(host.subscriptionsURL, token: token)
            #expect(list.json?["value"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test("the resource must be a webhook-capable entity set of an existing company; the body is checked")
    func resourceValidation() async throws {
        try await withWebhookRig { host, subscriber, token in
            let company = "/api/v2.0/companies(\(host.companyId))"
            let badResources = [
                company + "/purchaseOrders", company + "/dimensionValues", company + "/vendors(\(UUID()))",
                "/api/v2.0/companies(\(UUID().uuidString.lowercased()))/vendors", "/api/v2.0/vendors", "vendors",
                company + "/vendors?$filter=number eq '1'",
            ]
            for resource in badResources {
                let result = try await host.subscribe(subscriber.url, resource: resource, token: token)
                #expect(result.status == 400, "\(resource): \(result.text)")
                #expect(result.bcErrorCode != nil)
            }
            let unknownCompany = try await host.subscribe(
                subscriber.url, resource: "/api/v2.0/companies(\(UUID().uuidString.lowercased()))/vendors", token: token
            )
            #expect(unknownCompany.bcErrorCode == "Internal_CompanyNotFound")

            let longState = try await host.subscribe(
                subscriber.url, resource: host.vendorsResource, clientState: String(repeating: "x", count: 2_049),
                token: token)
            #expect(longState.status == 400)
            let maxState = try await host.subscribe(
                subscriber.url, resource: host.vendorsResource, clientState: String(repeating: "x", count: 2_048),
                token: token)
            #expect(maxState.status == 201)

            let bodies: [SimJSONObject] = [
                SimJSONObject(["resource": .string(host.vendorsResource)]),
                SimJSONObject(["notificationUrl": .string("not a url"), "resource": .string(host.vendorsResource)]),
                SimJSONObject([
                    "notificationUrl": .string(subscriber.url), "resource": .string(host.vendorsResource),
                    "expirationDateTime": .string("2030-01-01T00:00:00Z"),
                ]),
                SimJSONObject([
                    "notificationUrl": .string(subscriber.url), "resource": .string(host.vendorsResource), "x": .int(1),
                ]),
                SimJSONObject([
                    "notificationUrl": .string(subscriber.url), "resource": .string(host.vendorsResource),
                    "clientState": .int(1),
                ]),
            ]
            for body in bodies {
                let result = try await HTTP.json("POST", host.subscriptionsURL, token: token, body: .object(body))
                #expect(result.status == 400, "\(SimJSON.object(body).text): \(result.text)")
            }
            #expect(subscriber.handshakes.count == 1, "only the valid request reached the handshake")
            let wrongMethod = try await HTTP.json(
                "PUT", host.subscriptionsURL, token: token, body: .object(SimJSONObject()))
            #expect(wrongMethod.status == 405)
        }
    }

    @Test("PATCH renews: If-Match required, stale etags conflict, the handshake is repeated, expiry moves")
    func renew() async throws {
        try await withWebhookRig { host, subscriber, token in
            let created = try await host.subscribe(subscriber.url, resource: host.vendorsResource, token: token)
            let id = try #require(created.json?["subscriptionId"]?.stringValue)
            let etag = try #require(created.json?["@odata.etag"]?.stringValue)
            let url = host.subscriptionsURL + "('\(id)')"
            let body = SimJSON.object(SimJSONObject(["clientState": .string("renewed")]))

            let missing = try await HTTP.json("PATCH", url, token: token, body: body)
            #expect(missing.status == 400)
            #expect(missing.bcErrorCode == "BadRequest_InvalidToken")
            let stale = try await HTTP.json(
                "PATCH", url, token: token, body: body, headers: ["If-Match": "W/\"JzE7Jw==\""])
            #expect(stale.status == 409)
            #expect(stale.bcErrorCode == "Request_EntityChanged")

            try await host.advanceClock(seconds: 86_400)
            let token = try await host.entraToken()
            let renewed = try await HTTP.json("PATCH", url, token: token, body: body, headers: ["If-Match": etag])
            #expect(renewed.status == 200, "\(renewed.text)")
            #expect(renewed.json?["clientState"] == .string("renewed"))
            #expect(renewed.json?["expirationDateTime"] == .string(iso(rigStart.addingTimeInterval(4 * 86_400))))
            #expect(renewed.json?["lastModifiedDateTime"] == .string(iso(rigStart.addingTimeInterval(86_400))))
            let newEtag = try #require(renewed.json?["@odata.etag"]?.stringValue)
            #expect(newEtag != etag)
            #expect(renewed.header("ETag") == newEtag)
            #expect(subscriber.handshakes.count == 2, "renewal repeats the handshake")

            let again = try await HTTP.json("PATCH", url, token: token, body: body, headers: ["If-Match": etag])
            #expect(again.status == 409, "the old etag is stale now")

            // A new notificationUrl must pass the handshake too; on failure nothing changes.
            let moved = try await HTTP.json(
                "PATCH", url, token: token,
                body: .object(SimJSONObject(["notificationUrl": .string(subscriber.base + "/missing")])),
                headers: ["If-Match": "*"])
            #expect(moved.status == 400)
            let current = try await HTTP.get(url, token: token)
            #expect(current.json?["notificationUrl"] == .string(subscriber.url))
            #expect(current.json?["@odata.etag"] == .string(newEtag))

            let empty = try await HTTP.send(
                "PATCH", url, headers: ["Authorization": "Bearer \(token)", "If-Match": "*"], body: Data())
            #expect(empty.status == 400)
            let star = try await HTTP.json(
                "PATCH", url, token: token, body: .object(SimJSONObject()), headers: ["If-Match": "*"])
            #expect(star.status == 200)
            #expect(host.counters["bc PATCH subscriptions({id})"] == 7)
        }
    }

    @Test("DELETE needs If-Match like PATCH, then 204; the subscription is gone")
    func delete() async throws {
        try await withWebhookRig { host, subscriber, token in
            let created = try await host.subscribe(subscriber.url, resource: host.vendorsResource, token: token)
            let id = try #require(created.json?["subscriptionId"]?.stringValue)
            let etag = try #require(created.json?["@odata.etag"]?.stringValue)
            let url = host.subscriptionsURL + "('\(id)')"
            let auth = ["Authorization": "Bearer \(token)"]
            let missing = try await HTTP.send("DELETE", url, headers: auth)
            #expect(missing.status == 400)
            #expect(missing.bcErrorCode == "BadRequest_InvalidToken")
            let stale = try await HTTP.send("DELETE", url, headers: auth.merging(["If-Match": "W/\"x\""]) { $1 })
            #expect(stale.status == 409)
            let deleted = try await HTTP.send("DELETE", url, headers: auth.merging(["If-Match": etag]) { $1 })
            #expect(deleted.status == 204)
            #expect(try await HTTP.get(url, token: token).status == 404)
            #expect(try await HTTP.send("DELETE", url, headers: auth.merging(["If-Match": "*"]) { $1 }).status == 404)
            let list = try await HTTP.get(host.subscriptionsURL, token: token)
            #expect(list.json?["value"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test("a vendor change via /_sim/bc/vendors notifies once, after the delay, with clientState and resource")
    func vendorChangeNotifies() async throws {
        try await withWebhookRig(delay: 0.3) { host, subscriber, token in
            let created = try await host.subscribe(
                subscriber.url, resource: host.vendorsResource, clientState: "shared-secret", token: token)
            let subscription = try #require(created.json)
            // An accounts subscription must not hear about vendors.
            _ = try await host.subscribe(subscriber.base + "/accounts", resource: host.accountsResource, token: token)
            let vendor = try #require(host.tenant.businessCentral.vendors.first)
            let changedAt = ContinuousClock.now
            let changed = try await host.simVendor(number: vendor.number, displayName: "Renamed Vendor")
            #expect(changed.status == 200, "\(changed.text)")
            #expect(changed.json?["displayName"] == .string("Renamed Vendor"))

            try await waitUntil { subscriber.notifications.count >= 1 }
            #expect(ContinuousClock.now - changedAt >= .milliseconds(250), "batched for the notification delay")
            try await Task.sleep(for: .milliseconds(400))
            #expect(subscriber.notifications.count == 1)
            let notification = try #require(subscriber.notifications.first)
            #expect(notification.path == "/hook")
            #expect(notification.contentType == "application/json")
            #expect(notification.body.first == UInt8(ascii: "{"), "no byte-order mark")
            let entries = try #require(notification.json?["value"]?.arrayValue)
            #expect(entries.count == 1)
            let entry = try #require(entries.first)
            #expect(entry["subscriptionId"] == subscription["subscriptionId"])
            #expect(entry["clientState"] == .string("shared-secret"))
            #expect(entry["expirationDateTime"] == subscription["expirationDateTime"])
            #expect(entry["resource"] == .string("api/v2.0/companies(\(host.companyId))/vendors(\(vendor.id))"))
            #expect(entry["changeType"] == .string("updated"))
            #expect(entry["lastModifiedDateTime"] == changed.json?["lastModifiedDateTime"])
            #expect(
                entry.objectValue?.orderedKeys == [
                    "subscriptionId", "clientState", "expirationDateTime", "resource", "changeType",
                    "lastModifiedDateTime",
                ])

            let reread = try await host.bcGet("vendors(\(vendor.id))", token: token)
            #expect(reread.json?["displayName"] == .string("Renamed Vendor"))
            let counters = try await HTTP.get(host.businessCentralBaseURL + "/_sim/counters")
            #expect(counters.json?["bc notify 202"] == .int(1))
            let stats = try await HTTP.get(host.businessCentralBaseURL + "/_sim/bc/subscriptions")
            let first = try #require(stats.json?["value"]?.arrayValue?.first)
            #expect(first["delivery"]?["delivered"] == .int(1))
            #expect(first["delivery"]?["lastOutcome"] == .string("202"))
        }
    }

    @Test("quick changes are batched into one POST per subscription; repeated edits of one vendor collapse")
    func batching() async throws {
        try await withWebhookRig(delay: 0.4) { host, subscriber, token in
            _ = try await host.subscribe(subscriber.url, resource: host.vendorsResource, token: token)
            _ = try await host.subscribe(subscriber.base + "/accounts", resource: host.accountsResource, token: token)
            let vendors = host.tenant.businessCentral.vendors
            let added = try await host.simVendor(number: "WEBHOOK-NEW", displayName: "New Vendor")
            #expect(added.status == 201)
            #expect(try await host.simVendor(number: vendors[0].number, displayName: "First edit").status == 200)
            #expect(try await host.simVendor(number: vendors[0].number, displayName: "Second edit").status == 200)
            let removed = try await HTTP.send(
                "DELETE", host.businessCentralBaseURL + "/_sim/bc/vendors/" + HTTP.encode(vendors[1].number))
            #expect(removed.status == 204)
            let account = try await HTTP.json(
                "POST", host.businessCentralBaseURL + "/_sim/bc/accounts", token: nil,
                body: .object(
                    SimJSONObject(["number": .string("WH-ACCOUNT-1"), "displayName": .string("Webhook account")])))
            #expect(account.status == 201)

            try await waitUntil { subscriber.notifications.count >= 2 }
            try await Task.sleep(for: .milliseconds(500))
            let posts = subscriber.notifications
            #expect(posts.count == 2)
            let vendorPost = try #require(posts.first { $0.path == "/hook" })
            let entries = try #require(vendorPost.json?["value"]?.arrayValue)
            let types = Dictionary(
                entries.compactMap { entry in
                    entry["resource"]?.stringValue.map { ($0, entry["changeType"]?.stringValue ?? "") }
                }, uniquingKeysWith: { $1 })
            let base = "api/v2.0/companies(\(host.companyId))/vendors"
            let newId = try #require(added.json?["id"]?.stringValue)
            #expect(
                types == [
                    "\(base)(\(newId))": "created", "\(base)(\(vendors[0].id))": "updated",
                    "\(base)(\(vendors[1].id))": "deleted",
                ])
            let accountPost = try #require(posts.first { $0.path == "/accounts" })
            let accountEntries = try #require(accountPost.json?["value"]?.arrayValue)
            #expect(accountEntries.count == 1)
            #expect(accountEntries.first?["changeType"] == .string("created"))
            #expect(host.counters["bc notify 202"] == 2)
        }
    }

    @Test("purchase invoice create, line add and delete through the API notify the header")
    func purchaseInvoiceNotifications() async throws {
        try await withWebhookRig { host, subscriber, token in
            let resource = "/api/v2.0/companies(\(host.companyId))/purchaseInvoices"
            #expect(try await host.subscribe(subscriber.url, resource: resource, token: token).status == 201)
            let created = try await HTTP.json(
                "POST", host.companyURL + "/purchaseInvoices", token: token,
                body: invoiceBody(
                    vendorNumber: host.tenant.openVendorNumber, vendorInvoiceNumber: "WH-1",
                    lines: [accountLine("60100")]))
            #expect(created.status == 201)
            let id = try #require(created.json?["id"]?.stringValue)
            let header = "api/v2.0/companies(\(host.companyId))/purchaseInvoices(\(id))"
            try await waitUntil { subscriber.notifications.count == 1 }
            #expect(subscriber.entries.map(\.changeType) == ["created"])
            #expect(subscriber.entries.map(\.resource) == [header])

            let line = try await HTTP.json(
                "POST", host.companyURL + "/purchaseInvoices(\(id))/purchaseInvoiceLines", token: token,
                body: accountLine("60400"))
            #expect(line.status == 201)
            try await waitUntil { subscriber.notifications.count == 2 }
            #expect(subscriber.entries.last?.changeType == "updated")
            #expect(subscriber.entries.last?.resource == header, "a line change notifies the header")

            let deleted = try await HTTP.send(
                "DELETE", host.companyURL + "/purchaseInvoices(\(id))",
                headers: ["Authorization": "Bearer \(token)", "If-Match": "*"])
            #expect(deleted.status == 204)
            try await waitUntil { subscriber.notifications.count == 3 }
            #expect(subscriber.entries.last?.changeType == "deleted")
        }
    }

    @Test("more than 1,000 changes in one window become one collection notification")
    func collection() async throws {
        try await withWebhookRig { host, subscriber, token in
            #expect(
                try await host.subscribe(subscriber.url, resource: host.vendorsResource, token: token).status == 201)
            let now = host.clock.now()
            host.businessCentral.store.modifyCompany(id: host.companyId) { company in
                for index in 0..<1_001 {
                    company.vendors.append(
                        BCVendor(
                            id: UUID().uuidString, number: "BULK\(index)", displayName: "Bulk \(index)",
                            lastModified: now))
                }
            }
            try await waitUntil { subscriber.notifications.count == 1 }
            let entries = subscriber.entries
            #expect(entries.count == 1)
            #expect(entries.first?.changeType == "collection")
            let prefix = "api/v2.0/companies(\(host.companyId))/vendors?$filter=lastDateTimeModified gt "
            #expect(entries.first?.resource.hasPrefix(prefix) == true, "\(entries.first?.resource ?? "")")
        }
    }

    @Test("a 503 reply is retried with the configured backoff until the subscriber accepts")
    func retryOn503() async throws {
        try await withWebhookRig(retries: [0.05, 0.05, 0.05], timeout: 0.5) { host, subscriber, token in
            let created = try await host.subscribe(subscriber.url, resource: host.vendorsResource, token: token)
            let id = try #require(created.json?["subscriptionId"]?.stringValue)
            subscriber.queueReplies([.status(503), .status(503), .slow])
            #expect(try await host.simVendor(number: "RETRY-1", displayName: "Retry").status == 201)
            try await waitUntil { subscriber.notifications.count >= 4 }
            try await Task.sleep(for: .milliseconds(300))
            #expect(subscriber.notifications.count == 4, "two 503s, one timeout, then accepted")
            #expect(Set(subscriber.notifications.map(\.text)).count == 1, "the same batch every time")
            #expect(host.counters["bc notify 503"] == 2)
            #expect(host.counters["bc notify transport-error"] == 1)
            #expect(host.counters["bc notify 202"] == 1)
            let still = try await HTTP.get(host.subscriptionsURL + "('\(id)')", token: token)
            #expect(still.status == 200)
            let stats = try await HTTP.get(host.businessCentralBaseURL + "/_sim/bc/subscriptions")
            #expect(stats.json?["value"]?.arrayValue?.first?["delivery"]?["attempts"] == .int(4))
        }
    }

    @Test("retries are bounded by the schedule; the subscription stays")
    func retriesExhausted() async throws {
        try await withWebhookRig(retries: [0.05]) { host, subscriber, token in
            #expect(
                try await host.subscribe(subscriber.url, resource: host.vendorsResource, token: token).status == 201)
            subscriber.queueReplies([.status(500), .status(429), .status(408)])
            #expect(try await host.simVendor(number: "RETRY-2", displayName: "Retry").status == 201)
            try await waitUntil { subscriber.notifications.count >= 2 }
            try await Task.sleep(for: .milliseconds(300))
            #expect(subscriber.notifications.count == 2)
            #expect(host.counters["bc notify 500"] == 1)
            #expect(host.counters["bc notify 429"] == 1)
            let list = try await HTTP.get(host.subscriptionsURL, token: token)
            #expect(list.json?["value"]?.arrayValue?.count == 1)
        }
    }

    @Test("any other error reply deletes the subscription", arguments: [400, 401, 404])
    func errorDeletes(status: Int) async throws {
        try await withWebhookRig { host, subscriber, token in
            let created = try await host.subscribe(subscriber.url, resource: host.vendorsResource, token: token)
            let id = try #require(created.json?["subscriptionId"]?.stringValue)
            subscriber.queueReplies([.status(status)])
            #expect(try await host.simVendor(number: "GONE-1", displayName: "Gone").status == 201)
            try await waitUntil { subscriber.notifications.count >= 1 }
            try await waitUntil {
                host.businessCentral.webhooks.subscriptions.isEmpty
            }
            #expect(try await HTTP.get(host.subscriptionsURL + "('\(id)')", token: token).status == 404)
            #expect(host.counters["bc notify \(status)"] == 1)
            #expect(try await host.simVendor(number: "GONE-2", displayName: "Gone too").status == 201)
            try await Task.sleep(for: .milliseconds(400))
            #expect(subscriber.notifications.count == 1, "no retry, and nothing after the deletion")
            let control = try await HTTP.get(host.businessCentralBaseURL + "/_sim/bc/subscriptions")
            let removed = try #require(control.json?["removed"]?.arrayValue?.first)
            #expect(removed["subscriptionId"] == .string(id))
            #expect(removed["reason"]?.stringValue?.contains(String(status)) == true)
        }
    }

    @Test("an expired subscription gets no notifications and is still listed with its old expiry until renewed")
    func expired() async throws {
        try await withWebhookRig { host, subscriber, token in
            let created = try await host.subscribe(subscriber.url, resource: host.vendorsResource, token: token)
            let id = try #require(created.json?["subscriptionId"]?.stringValue)
            let expiry = try #require(created.json?["expirationDateTime"])
            try await host.advanceClock(seconds: 3 * 86_400 + 1)
            let token = try await host.entraToken()
            #expect(try await host.simVendor(number: "LATE-1", displayName: "Late").status == 201)
            try await Task.sleep(for: .milliseconds(500))
            #expect(subscriber.notifications.isEmpty)
            let listed = try await HTTP.get(host.subscriptionsURL, token: token)
            #expect(listed.json?["value"]?.arrayValue?.first?["expirationDateTime"] == expiry)
            let control = try await HTTP.get(host.businessCentralBaseURL + "/_sim/bc/subscriptions")
            #expect(control.json?["value"]?.arrayValue?.first?["expired"] == .bool(true))

            let renewed = try await HTTP.json(
                "PATCH", host.subscriptionsURL + "('\(id)')", token: token, body: .object(SimJSONObject()),
                headers: ["If-Match": "*"])
            #expect(renewed.status == 200)
            #expect(try await host.simVendor(number: "LATE-2", displayName: "On time").status == 201)
            try await waitUntil { subscriber.notifications.count == 1 }
            #expect(subscriber.entries.first?.changeType == "created")
        }
    }

    @Test("subscriptions go through the fault injector like every other route")
    func faults() async throws {
        try await withWebhookRig { host, subscriber, token in
            host.businessCentral.faults.add(.status(503, method: "POST", endpoint: "subscriptions", count: 1))
            let faulted = try await host.subscribe(subscriber.url, resource: host.vendorsResource, token: token)
            #expect(faulted.status == 503)
            #expect(subscriber.handshakes.isEmpty)
            let ok = try await host.subscribe(subscriber.url, resource: host.vendorsResource, token: token)
            #expect(ok.status == 201)
            #expect(host.counters["bc POST subscriptions"] == 2)
        }
    }
}

// MARK: Rig

/// The simulators' fixed start time in these tests.
private let rigStart = Date(timeIntervalSince1970: 1_794_304_800)  // 2026-11-10T10:00:00Z

private func iso(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: date)
}

/// Simulators on a fixed clock with short webhook timing, a subscriber on loopback and a BC token.
private func withWebhookRig(
    delay: Double = 0.1,
    retries: [Double] = [0.05, 0.05],
    timeout: Double = 5,
    _ body: (SimulatorHost, Subscriber, String) async throws -> Void
) async throws {
    try await withSubscriber { subscriber in
        let options = SimulatorHost.Options(clock: SimulatorClock(fixedAt: rigStart))
        try await withSimulators(tenant: smallTenant, options: options) { host in
            let settings = try await HTTP.json(
                "POST", host.businessCentralBaseURL + "/_sim/bc/notifications", token: nil,
                body: .object(
                    SimJSONObject([
                        "delaySeconds": .number(String(delay)),
                        "retryDelaysSeconds": .array(retries.map { .number(String($0)) }),
                        "handshakeTimeoutSeconds": .number(String(timeout)),
                        "deliveryTimeoutSeconds": .number(String(timeout)),
                    ])))
            guard settings.status == 200 else { throw TestFailure("settings: \(settings.status) \(settings.text)") }
            try await body(host, subscriber, try await host.entraToken())
        }
    }
}

/// Polls `condition` every 10 ms for up to 5 s.
private func waitUntil(_ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(5)
    while !condition() {
        guard ContinuousClock.now < deadline else { throw TestFailure("condition not met within 5 s") }
        try await Task.sleep(for: .milliseconds(10))
    }
}

extension SimulatorHost {
    fileprivate var companyId: String { tenant.credentials.companyId }
    fileprivate var subscriptionsURL: String { businessCentralAPIURL + "/subscriptions" }
    fileprivate var vendorsResource: String { "/api/v2.0/companies(\(companyId))/vendors" }
    fileprivate var accountsResource: String { "/api/v2.0/companies(\(companyId))/accounts" }

    fileprivate func subscribe(
        _ notificationUrl: String,
        resource: String,
        clientState: String? = nil,
        token: String
    ) async throws -> HTTPResult {
        var body = SimJSONObject(["notificationUrl": .string(notificationUrl), "resource": .string(resource)])
        if let clientState { body["clientState"] = .string(clientState) }
        return try await HTTP.json("POST", subscriptionsURL, token: token, body: .object(body))
    }

    fileprivate func simVendor(number: String, displayName: String) async throws -> HTTPResult {
        try await HTTP.json(
            "POST", businessCentralBaseURL + "/_sim/bc/vendors", token: nil,
            body: .object(SimJSONObject(["number": .string(number), "displayName": .string(displayName)])))
    }

    fileprivate func advanceClock(seconds: Int) async throws {
        let result = try await HTTP.json(
            "POST", businessCentralBaseURL + "/_sim/clock/advance", token: nil,
            body: .object(SimJSONObject(["seconds": .int(seconds)])))
        guard result.status == 204 else { throw TestFailure("clock advance: \(result.status)") }
    }
}

// MARK: Subscriber

/// A webhook subscriber on an ephemeral loopback port. Handshakes (`?validationToken=`) are answered by path:
/// `/hook` and `/accounts` echo the token, `/wrong-token` answers another text, `/missing` 404, `/slow` waits
/// 3 s, `/status-202` echoes with 202. Notifications are recorded and answered from the reply queue (202 when
/// empty).
private final class Subscriber: Sendable {
    enum Reply: Sendable {
        case status(Int)
        /// Waits longer than the delivery timeout, then 202.
        case slow
    }

    struct Handshake: Sendable {
        var method: String
        var path: String
        var token: String
    }

    struct Notification: Sendable {
        var path: String
        var contentType: String?
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
        var json: SimJSON? { try? SimJSON.parse(body) }
    }

    struct Entry {
        var resource: String
        var changeType: String
    }

    private struct State {
        var handshakes: [Handshake] = []
        var notifications: [Notification] = []
        var replies: [Reply] = []
    }

    private let state = Mutex(State())
    let base: String

    init(port: Int) { base = "http://127.0.0.1:\(port)" }

    var url: String { base + "/hook" }
    var handshakes: [Handshake] { state.withLock { $0.handshakes } }
    var notifications: [Notification] { state.withLock { $0.notifications } }
    /// The entries of all notifications received, in order.
    var entries: [Entry] {
        notifications.flatMap { notification in
            (notification.json?["value"]?.arrayValue ?? []).map { entry in
                Entry(
                    resource: entry["resource"]?.stringValue ?? "", changeType: entry["changeType"]?.stringValue ?? "")
            }
        }
    }

    func queueReplies(_ replies: [Reply]) { state.withLock { $0.replies.append(contentsOf: replies) } }

    func respond(method: String, path: String, query: String, contentType: String?, body: [UInt8]) async -> (
        Int, String
    ) {
        let items = URLComponents(string: "http://x/?" + query)?.queryItems ?? []
        if let token = items.first(where: { $0.name == "validationToken" })?.value {
            state.withLock { $0.handshakes.append(Handshake(method: method, path: path, token: token)) }
            switch path {
            case "/wrong-token": return (200, "not-the-token")
            case "/missing": return (404, "")
            case "/status-202": return (202, token)
            case "/slow":
                try? await Task.sleep(for: .seconds(3))
                return (200, token)
            default: return (200, token)
            }
        }
        let reply: Reply = state.withLock { state in
            state.notifications.append(Notification(path: path, contentType: contentType, body: body))
            return state.replies.isEmpty ? .status(202) : state.replies.removeFirst()
        }
        switch reply {
        case .status(let code): return (code, "")
        case .slow:
            try? await Task.sleep(for: .seconds(3))
            return (202, "")
        }
    }
}

private struct SubscriberResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let subscriber: Subscriber

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        let buffer = try await request.body.collect(upTo: 1 << 20)
        let (status, text) = await subscriber.respond(
            method: request.method.rawValue, path: request.uri.path, query: request.uri.query ?? "",
            contentType: request.headers[.contentType], body: Array(buffer.readableBytesView))
        var headers = HTTPFields()
        headers[.contentType] = "text/plain"
        return Response(
            status: HTTPResponse.Status(code: status), headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}

/// Hummingbird reports the cancelled child channels of a stopped server as errors; nothing went wrong then.
private let subscriberLogger: Logger = {
    var logger = Logger(label: "webhook-subscriber")
    logger.logLevel = .critical
    return logger
}()

/// Runs a ``Subscriber`` for the duration of `body`.
private func withSubscriber(_ body: (Subscriber) async throws -> Void) async throws {
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    try await withThrowingTaskGroup(of: Void.self) { group in
        let pending = PendingSubscriber()
        let application = Application(
            responder: LateResponder(pending: pending),
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
            logger: subscriberLogger)
        // Stopped gracefully: cancelling a Hummingbird server can drop a connection accepted in that instant,
        // which NIO traps on (apple/swift-nio#2637).
        let serviceGroup = ServiceGroup(configuration: .init(services: [application], logger: subscriberLogger))
        group.addTask {
            defer { continuation.finish() }
            try await serviceGroup.run()
        }
        var port = 0
        for await value in ports {
            port = value
            break
        }
        guard port != 0 else {
            await serviceGroup.triggerGracefulShutdown()
            throw TestFailure("the subscriber did not start")
        }
        let subscriber = Subscriber(port: port)
        pending.set(subscriber)
        do {
            try await body(subscriber)
        } catch {
            await serviceGroup.triggerGracefulShutdown()
            throw error
        }
        await serviceGroup.triggerGracefulShutdown()
    }
}

/// The subscriber's port is known only once the server runs, so the responder finds it late.
private final class PendingSubscriber: Sendable {
    private let value = Mutex<Subscriber?>(nil)
    func set(_ subscriber: Subscriber) { value.withLock { $0 = subscriber } }
    var subscriber: Subscriber? { value.withLock { $0 } }
}

private struct LateResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let pending: PendingSubscriber

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        guard let subscriber = pending.subscriber else { return Response(status: .serviceUnavailable) }
        return try await SubscriberResponder(subscriber: subscriber).respond(to: request, context: context)
    }
}
