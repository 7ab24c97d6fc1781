import ConnectorSimulators
import Foundation
import Testing

@Suite("Acumatica faults, counters and push notifications", .serialized)
struct AcumaticaFaultAndPushTests {
    private func billBody(_ vendorRef: String) -> SimJSON {
        record(
            [("Vendor", .string(smallTenant.openVendorNumber)), ("VendorRef", .string(vendorRef))],
            details: [record([("Account", .string("60100")), ("Amount", .number("12.5"))])])
    }

    @Test("status faults use Acumatica's error bodies; counters are per endpoint template")
    func statusFaultsAndCounters() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let (token, _) = try await host.acumaticaTokens()
            host.acumatica.faults.add(.status(429, retryAfter: 3, system: "acumatica", method: "PUT", endpoint: "Bill"))
            let limited = try await host.acu("PUT", "Bill", auth: .bearer(token), body: billBody("F-1"))
            #expect(limited.status == 429)
            #expect(limited.header("Retry-After") == "3")
            #expect(limited.json?["message"]?.stringValue?.contains("license") == true)
            #expect(host.acumatica.billCount(vendor: smallTenant.openVendorNumber, vendorRef: "F-1") == 0)
            host.acumatica.faults.add(.status(500, endpoint: "Vendor/{key}"))
            let failed = try await host.acu("GET", "Vendor/\(smallTenant.openVendorNumber)", auth: .bearer(token))
            #expect(failed.status == 500)
            #expect(failed.json?["exceptionMessage"] != nil)
            #expect(try await host.acu("PUT", "Bill", auth: .bearer(token), body: billBody("F-1")).status == 200)

            let counters = host.acumatica.counters.snapshot()
            #expect(counters["acumatica POST token"] == 1)
            #expect(counters["acumatica PUT Bill"] == 2)
            #expect(counters["acumatica GET Vendor/{key}"] == 1)
            #expect(host.acumatica.faults.fired["status 429"] == 1)
            let fired = try await HTTP.get(host.acumaticaBaseURL + "/_sim/acumatica/faults/fired")
            #expect(fired.json?["status 500"]?.intValue == 1)
        }
    }

    @Test("dropAfterCommit on PUT: a transport error, yet the bill exists; dropBeforeCommit: nothing was written")
    func drops() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let (token, _) = try await host.acumaticaTokens()
            let vendor = smallTenant.openVendorNumber
            host.acumatica.faults.add(.dropAfterCommit(method: "PUT", endpoint: "Bill"))
            await #expect(throws: (any Error).self) {
                _ = try await host.acu("PUT", "Bill", auth: .bearer(token), body: billBody("DROP-AFTER"))
            }
            #expect(host.acumatica.billCount(vendor: vendor, vendorRef: "DROP-AFTER") == 1)
            let count = try await HTTP.get(
                host.acumaticaBaseURL + "/_sim/acumatica/bills/count?vendor=\(vendor)&vendorRef=DROP-AFTER")
            #expect(count.json?["count"]?.intValue == 1)

            host.acumatica.faults.add(.dropBeforeCommit(method: "PUT", endpoint: "Bill"))
            await #expect(throws: (any Error).self) {
                _ = try await host.acu("PUT", "Bill", auth: .bearer(token), body: billBody("DROP-BEFORE"))
            }
            #expect(host.acumatica.billCount(vendor: vendor, vendorRef: "DROP-BEFORE") == 0)
        }
    }

    @Test("expireTokens ends sessions and access tokens at once; refresh tokens still work")
    func expireNow() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let (token, refresh) = try await host.acumaticaTokens()
            let cookies = try await host.acumaticaLogin()
            host.acumatica.faults.add(.expireTokens(endpoint: "Branch"))
            #expect(try await host.acu("GET", "Branch", auth: .bearer(token)).status == 401)
            #expect(try await host.acu("GET", "Branch", auth: .cookie(cookies)).status == 401)
            #expect(host.acumatica.openSessions == 0)
            let access = host.acumatica.access
            let refreshed = try await HTTP.form(
                host.acumaticaBaseURL + "/identity/connect/token",
                [
                    ("grant_type", "refresh_token"), ("client_id", access.clientId),
                    ("client_secret", access.clientSecret), ("refresh_token", refresh ?? ""),
                ])
            #expect(refreshed.status == 200)
            let expire = try await HTTP.send("POST", host.acumaticaBaseURL + "/_sim/tokens/expire")
            #expect(expire.status == 204)
            let newToken = try #require(refreshed.json?["access_token"]?.stringValue)
            #expect(try await host.acu("GET", "Branch", auth: .bearer(newToken)).status == 401)
        }
    }

    @Test("push notification: POST with the one custom header; error replies are retried up to five attempts")
    func pushDelivery() async throws {
        try await withPushReceiver { receiver in
            try await withSimulators(tenant: smallTenant) { host in
                let configure = try await HTTP.json(
                    "POST", host.acumaticaBaseURL + "/_sim/acumatica/push/destination", token: nil,
                    body: .object(
                        SimJSONObject([
                            "url": .string(receiver.url), "headerName": .string("X-MLC-Webhook-Secret"),
                            "headerValue": .string("s3cret"),
                        ])))
                #expect(configure.status == 204)
                receiver.reply(with: [500, 503])
                let row = SimJSON.object(
                    SimJSONObject(["VendorID": .string("279765"), "Status": .string("Active")]))
                let sent = try await HTTP.json(
                    "POST", host.acumaticaBaseURL + "/_sim/acumatica/push", token: nil,
                    body: .object(SimJSONObject(["Query": .string("MLC Vendors"), "Inserted": .array([row])])))
                #expect(sent.json?["delivered"]?.boolValue == true)
                #expect(sent.json?["attempts"]?.intValue == 3)
                let received = receiver.received
                #expect(received.count == 3)
                let last = try #require(received.last)
                #expect(last.headers["x-mlc-webhook-secret"] == "s3cret")
                #expect(last.headers["content-type"]?.hasPrefix("application/json") == true)
                let body = try SimJSON.parse(last.body)
                #expect(body["Query"]?.stringValue == "MLC Vendors")
                #expect(body["CompanyId"]?.stringValue == host.acumatica.access.tenant)
                #expect(body["Inserted"]?.arrayValue?.count == 1)
                #expect(body["Deleted"]?.arrayValue?.isEmpty == true)
                #expect(body["Id"]?.stringValue?.isEmpty == false)
                #expect(body["AdditionalInfo"]?.objectValue != nil)
                let firstStamp = try #require(body["TimeStamp"]?.decimalValue)
                #expect(
                    try SimJSON.parse(received[0].body)["Id"] == body["Id"], "a retry resends the same notification")

                receiver.reply(with: [500, 500, 500, 500, 500, 500])
                let failing = await host.acumatica.sendPush(query: "MLC Vendors", inserted: [row])
                #expect(failing.delivered == false)
                #expect(failing.statuses.count == 5, "at most five attempts")
                let secondStamp = try #require(failing.notification["TimeStamp"]?.decimalValue)
                #expect(secondStamp > firstStamp)
                #expect(host.acumatica.counters.count("acumatica push 500") == 6)
            }
        }
    }
}
