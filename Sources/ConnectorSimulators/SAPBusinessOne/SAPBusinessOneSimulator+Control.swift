import Foundation

/// The simulator's admin API under `/_sim/b1/` (no session needed), beside the common `/_sim/counters`,
/// `/_sim/faults`, `/_sim/clock/advance` and `/_sim/tokens/expire` (which ends every session):
///
/// - `GET /_sim/b1/sessions` → `{"open","logins","failedLogins","logouts","expired","peakOpen","expectRefused",
///   "sessions":[{"userName","idleSeconds"}]}`; `POST /_sim/b1/sessions/expire`; `POST /_sim/b1/sessions/reset`.
/// - `POST /_sim/b1/config` `{"sessionTimeoutMinutes","defaultPageSize","maxPageSize","expectContinueStatus",
///   "dateSuffix"}` (any subset).
/// - `POST /_sim/b1/seed` `{"BusinessPartners":[…],"ChartOfAccounts":[…],"Dimensions":[…],"ProfitCenters":[…],
///   "PurchaseOrders":[…]}`: master rows are upserted by key as given; purchase orders go through the API's
///   validation and get `DocEntry`s, returned as `{"PurchaseOrders":[DocEntry…]}`.
/// - `POST /_sim/b1/vendors/bulk` `{"count":N,"prefix":"VB"}` → `{"CardCodes":[…]}`.
/// - `POST /_sim/b1/BusinessPartners`, `POST /_sim/b1/ChartOfAccounts`: a clerk's upsert of one row (bumps
///   `UpdateDate`/`UpdateTime`).
/// - `GET /_sim/b1/documents/count?CardCode=…&NumAtCard=…` → `{"drafts","invoices","total"}`.
/// - `POST /_sim/b1/payments` `{"DocEntry":n,"amount":x}` (amount defaults to the open balance) → the invoice.
/// - `GET /_sim/b1/faults/fired` → fault kind → times fired.
/// - `GET /_sim/b1/data/<EntitySet>` → `{"value":[…]}`, every row as stored.
extension SAPBusinessOneSimulator {
    func control(_ request: SimRequest) async -> SimResponse? {
        guard request.path.hasPrefix("/_sim/b1/") else { return nil }
        let route = String(request.path.dropFirst("/_sim/b1/".count))
        do {
            switch (request.method, route) {
            case ("GET", "sessions"): return .json(200, sessionsJSON)
            case ("POST", "sessions/expire"):
                sessions.expireAll()
                return .empty(204)
            case ("POST", "sessions/reset"):
                sessions.resetStats()
                return .empty(204)
            case ("POST", "config"): return try configure(try body(request))
            case ("POST", "seed"): return try seed(try body(request))
            case ("POST", "vendors/bulk"):
                let object = try body(request)
                guard let count = object["count"]?.intValue, count >= 0 else {
                    return controlError("expected {\"count\": N, \"prefix\": \"VB\"}")
                }
                let codes = store.addVendors(count: count, prefix: object["prefix"]?.stringValue ?? "VB")
                return .json(200, .object(SimJSONObject(["CardCodes": .array(codes.map(SimJSON.string))])))
            case ("POST", "BusinessPartners"):
                let created = try store.upsertBusinessPartner(try body(request))
                return .empty(created ? 201 : 204)
            case ("POST", "ChartOfAccounts"):
                let created = try store.upsertAccount(try body(request))
                return .empty(created ? 201 : 204)
            case ("GET", "documents/count"):
                guard let cardCode = request.queryValue("CardCode"), let numAtCard = request.queryValue("NumAtCard")
                else { return controlError("expected ?CardCode=…&NumAtCard=…") }
                let counts = store.documentCount(cardCode: cardCode, numAtCard: numAtCard)
                return .json(
                    200,
                    .object(
                        SimJSONObject([
                            "drafts": .int(counts.drafts), "invoices": .int(counts.invoices),
                            "total": .int(counts.drafts + counts.invoices),
                        ])))
            case ("POST", "payments"):
                let object = try body(request)
                guard let docEntry = object["DocEntry"]?.intValue else {
                    return controlError("expected {\"DocEntry\": n, \"amount\": x}")
                }
                let invoice = try store.pay(docEntry: docEntry, amount: B1Store.decimal(object["amount"]))
                return .json(
                    200,
                    .object(
                        B1Render.row(
                            invoice, schema: B1Schemas.document, select: nil, dateSuffix: configuration.dateSuffix)))
            case ("GET", "faults/fired"):
                var object = SimJSONObject()
                for (key, value) in faults.fired.sorted(by: { $0.key < $1.key }) { object[key] = .int(value) }
                return .json(200, .object(object))
            default:
                if request.method == "GET", route.hasPrefix("data/"),
                    let set = B1EntitySet(rawValue: String(route.dropFirst(5)))
                {
                    let suffix = configuration.dateSuffix
                    let rows = store.rows(set).map {
                        SimJSON.object(B1Render.row($0, schema: set.schema, select: nil, dateSuffix: suffix))
                    }
                    return .json(200, .object(SimJSONObject(["value": .array(rows)])))
                }
                return nil
            }
        } catch let error as B1Error {
            return .json(error.status, error.body(version: .v2))
        } catch {
            return controlError("\(error)")
        }
    }

    private func body(_ request: SimRequest) throws -> SimJSONObject {
        guard let object = try request.jsonBody().objectValue else {
            throw SimulatorInputError("the body must be a JSON object")
        }
        return object
    }

    var sessionsJSON: SimJSON {
        let stats = sessions.stats
        return .object(
            SimJSONObject([
                "open": .int(stats.open), "logins": .int(stats.logins), "failedLogins": .int(stats.failedLogins),
                "logouts": .int(stats.logouts), "expired": .int(stats.expired), "peakOpen": .int(stats.peakOpen),
                "expectRefused": .int(stats.expectRefused),
                "sessions": .array(
                    sessions.openSessions.map {
                        .object(
                            SimJSONObject([
                                "userName": .string($0.userName), "idleSeconds": .int($0.idleSeconds),
                            ]))
                    }),
            ]))
    }

    private func configure(_ object: SimJSONObject) throws -> SimResponse {
        var settings = configuration
        for (key, value) in object {
            switch key {
            case "sessionTimeoutMinutes":
                guard let minutes = value.intValue, minutes > 0 else {
                    throw SimulatorInputError("sessionTimeoutMinutes must be a positive integer")
                }
                sessions.timeoutMinutes = minutes
            case "defaultPageSize":
                guard let size = value.intValue, size > 0 else { throw SimulatorInputError("defaultPageSize > 0") }
                settings.defaultPageSize = size
            case "maxPageSize":
                guard let size = value.intValue, size > 0 else { throw SimulatorInputError("maxPageSize > 0") }
                settings.maxPageSize = size
            case "expectContinueStatus":
                guard let status = value.intValue, (400...599).contains(status) else {
                    throw SimulatorInputError("expectContinueStatus must be 400...599")
                }
                settings.expectContinueStatus = status
            case "dateSuffix":
                guard let suffix = value.stringValue else { throw SimulatorInputError("dateSuffix must be a string") }
                settings.dateSuffix = suffix
            default:
                throw SimulatorInputError("unknown setting '\(key)'")
            }
        }
        configuration = settings
        return .empty(204)
    }

    private func seed(_ object: SimJSONObject) throws -> SimResponse {
        let master: [B1EntitySet] = [.businessPartners, .chartOfAccounts, .dimensions, .profitCenters]
        for (key, _) in object where B1EntitySet(rawValue: key) == nil || key == "PurchaseInvoices" || key == "Drafts" {
            throw SimulatorInputError(
                "seed takes BusinessPartners, ChartOfAccounts, Dimensions, ProfitCenters, PurchaseOrders")
        }
        for set in master {
            guard let rows = object[set.rawValue]?.arrayValue else { continue }
            var objects: [SimJSONObject] = []
            for row in rows {
                guard let value = row.objectValue, value[set.keyField] != nil else {
                    throw SimulatorInputError("each \(set.rawValue) row must be an object with \(set.keyField)")
                }
                objects.append(value)
            }
            store.modify { data in
                for row in objects {
                    let key = row[set.keyField].map { $0.intValue.map(String.init) ?? $0.stringValue ?? "" } ?? ""
                    if let index = data.index(of: key, in: set) {
                        data[set][index] = row
                    } else {
                        data[set].append(row)
                    }
                }
            }
        }
        var entries: [SimJSON] = []
        for order in object["PurchaseOrders"]?.arrayValue ?? [] {
            guard let value = order.objectValue else {
                throw SimulatorInputError("each PurchaseOrder must be an object")
            }
            let created = try store.createDocument(.purchaseOrders, value)
            entries.append(created["DocEntry"] ?? .null)
        }
        return .json(200, .object(SimJSONObject(["PurchaseOrders": .array(entries)])))
    }
}
