import Foundation

/// The simulator-admin routes under `/_sim/acumatica/` (besides the common `/_sim/` ones: counters, faults,
/// clock, `tokens/expire`, which ends every session and access token):
///
/// | route | does |
/// |---|---|
/// | `POST seed` `{"seed":42,"invoices":300}` | replaces the data with the demo company of that tenant |
/// | `POST vendors` `{"count":N,"prefix":"BULK"}` | adds N active vendors |
/// | `GET bills/count?vendor=V&vendorRef=R` | `{"count":n}` of bills with that vendor and vendor ref |
/// | `GET bills` | every bill with its details |
/// | `POST bills/pay` `{"type":"Bill","referenceNbr":"000001"}` | pays the bill (Closed, Balance 0) |
/// | `GET sessions` | sign-in statistics and open sessions |
/// | `GET faults/fired` | faults fired so far, by kind |
/// | `POST push/destination` `{"url":…,"headerName":…,"headerValue":…}` | where push notifications go |
/// | `POST push` `{"Query":…,"Inserted":[…],"Deleted":[…],"AdditionalInfo":{}}` | sends one, with retries |
/// | `POST options` `{"requestsPerMinute":…,"maxAPIUsers":…,…}` | changes options |
extension AcumaticaSimulator {
    func control(_ request: SimRequest) async -> SimResponse? {
        let prefix = "/_sim/acumatica/"
        if request.method == "GET", request.path == "/_sim/data/bills" { return allBills() }
        guard request.path.hasPrefix(prefix) else { return nil }
        let route = String(request.path.dropFirst(prefix.count))
        switch (request.method, route) {
        case ("POST", "seed"):
            let body = (try? request.jsonBody()) ?? .object(SimJSONObject())
            let seedValue = UInt64(clamping: body["seed"]?.intValue ?? 42)
            let invoices = body["invoices"]?.intValue ?? 300
            seed(DemoTenant.generate(invoiceCount: invoices, seed: seedValue).acumatica)
            return .empty(204)
        case ("POST", "vendors"):
            guard let body = try? request.jsonBody(), let count = body["count"]?.intValue, count >= 0 else {
                return controlError("expected {\"count\": N, \"prefix\": \"BULK\"}")
            }
            addVendors(count: count, prefix: body["prefix"]?.stringValue ?? "BULK")
            return .json(200, .object(SimJSONObject(["vendors": .int(store.records("Vendor").count)])))
        case ("GET", "bills/count"):
            guard let vendor = request.queryValue("vendor"), let vendorRef = request.queryValue("vendorRef") else {
                return controlError("expected ?vendor=…&vendorRef=…")
            }
            return .json(
                200, .object(SimJSONObject(["count": .int(billCount(vendor: vendor, vendorRef: vendorRef))])))
        case ("GET", "bills"):
            return allBills()
        case ("POST", "bills/pay"):
            guard let body = try? request.jsonBody() else {
                return controlError(
                    "expected {\"type\": \"Bill\", \"referenceNbr\": \"…\"} or {\"vendor\",\"vendorRef\"}")
            }
            var type = body["type"]?.stringValue ?? "Bill"
            var reference = body["referenceNbr"]?.stringValue
            if reference == nil, let vendor = body["vendor"]?.stringValue,
                let vendorRef = body["vendorRef"]?.stringValue,
                let bill = store.bills(vendor: vendor, vendorRef: vendorRef).first
            {
                type = bill.string("Type") ?? type
                reference = bill.string("ReferenceNbr")
            }
            guard let reference else { return controlError("no such bill", status: 404) }
            do {
                try payBill(type: type, referenceNbr: reference)
            } catch {
                return Self.respond(error)
            }
            return bill(type: type, referenceNbr: reference).map { SimResponse.json(200, $0) } ?? .empty(204)
        case ("GET", "sessions"):
            let stats = sessionStats
            return .json(
                200,
                .object(
                    SimJSONObject([
                        "open": .int(openSessions),
                        "logins": .int(stats.logins),
                        "logouts": .int(stats.logouts),
                        "refusedByLicence": .int(stats.refusedByLicence),
                        "expired": .int(stats.expired),
                        "tokensIssued": .int(stats.tokensIssued),
                        "refreshes": .int(stats.refreshes),
                    ])))
        case ("GET", "faults/fired"):
            var object = SimJSONObject()
            for (key, value) in faults.fired.sorted(by: { $0.key < $1.key }) { object[key] = .int(value) }
            return .json(200, .object(object))
        case ("POST", "push/destination"):
            guard let body = try? request.jsonBody(), let url = body["url"]?.stringValue else {
                return controlError("expected {\"url\": …, \"headerName\": …, \"headerValue\": …}")
            }
            configurePush(
                url: url, headerName: body["headerName"]?.stringValue, headerValue: body["headerValue"]?.stringValue)
            return .empty(204)
        case ("POST", "push"):
            guard let body = try? request.jsonBody(), let query = body["Query"]?.stringValue else {
                return controlError("expected {\"Query\": …, \"Inserted\": […], \"Deleted\": […]}")
            }
            let result = await sendPush(
                query: query, inserted: body["Inserted"]?.arrayValue ?? [], deleted: body["Deleted"]?.arrayValue ?? [],
                additionalInfo: body["AdditionalInfo"]?.objectValue ?? SimJSONObject())
            return .json(200, result.json)
        case ("POST", "options"):
            guard let body = try? request.jsonBody(), let object = body.objectValue else {
                return controlError("expected a JSON object of options")
            }
            do {
                try applyOptions(object)
            } catch {
                return controlError(error.description)
            }
            return .empty(204)
        default:
            return nil
        }
    }

    private func allBills() -> SimResponse {
        let projection = AcuProjection(select: nil, detailSelect: [:], expand: ["Details"])
        let items = store.records("Bill").enumerated().map {
            $1.json(schema: .bill, rowNumber: $0 + 1, projection: projection, links: nil)
        }
        return .json(200, .array(items))
    }

    private func applyOptions(_ object: SimJSONObject) throws(SimulatorInputError) {
        var changes: [(inout AcumaticaOptions) -> Void] = []
        for (key, value) in object {
            switch key {
            case "requestsPerMinute":
                let limit = value.intValue
                changes.append { $0.requestsPerMinute = limit }
            case "maxAPIUsers":
                guard let cap = value.intValue else { throw SimulatorInputError("maxAPIUsers must be an integer") }
                changes.append { $0.maxAPIUsers = cap }
            case "endpoints":
                let list = value.arrayValue?.compactMap(\.stringValue) ?? []
                changes.append { $0.endpoints = list }
            case "detailFilterPolicy":
                guard let policy = value.stringValue.flatMap(AcuDetailFilterPolicy.init(rawValue:)) else {
                    throw SimulatorInputError("detailFilterPolicy must be reject, serverError or ignore")
                }
                changes.append { $0.detailFilterPolicy = policy }
            case "closedPeriods":
                let periods = Set(value.arrayValue?.compactMap(\.stringValue) ?? [])
                changes.append { $0.closedPeriods = periods }
            case "releaseActionName":
                let name = value.stringValue
                changes.append { $0.releaseActionName = name }
            case "accessTokenLifetime", "sessionIdleTimeout":
                guard let seconds = value.decimalValue.map({ NSDecimalNumber(decimal: $0).doubleValue }) else {
                    throw SimulatorInputError("\(key) must be a number of seconds")
                }
                changes.append { options in
                    if key == "accessTokenLifetime" {
                        options.accessTokenLifetime = seconds
                    } else {
                        options.sessionIdleTimeout = seconds
                    }
                }
            case "rejectUnwrappedValues", "rotateRefreshTokens", "caseInsensitiveFilters", "holdBillsOnEntry",
                "rejectDuplicateVendorRef":
                guard let flag = value.boolValue else { throw SimulatorInputError("\(key) must be a boolean") }
                changes.append { options in
                    switch key {
                    case "rejectUnwrappedValues": options.rejectUnwrappedValues = flag
                    case "rotateRefreshTokens": options.rotateRefreshTokens = flag
                    case "caseInsensitiveFilters": options.caseInsensitiveFilters = flag
                    case "holdBillsOnEntry": options.holdBillsOnEntry = flag
                    default: options.rejectDuplicateVendorRef = flag
                    }
                }
            default:
                throw SimulatorInputError("unknown option '\(key)'")
            }
        }
        updateOptions { options in for change in changes { change(&options) } }
    }
}
