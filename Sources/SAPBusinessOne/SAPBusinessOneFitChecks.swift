import ConnectorCore
import ConnectorHTTP
import Foundation
import OData

extension SAPBusinessOneConnector: FitChecking {
    /// SAP Business One's part of "see if we fit", all reads: a fresh sign-in (company and Service Layer version
    /// from its answer), then read access and a count of every entity the flows use. B1 has no dry run for a
    /// create, so write access is reported as unchecked rather than guessed.
    package func fitChecks() async -> [FitCheck] {
        let system = SAPBusinessOneSettings.kind
        var checks: [FitCheck] = []
        if let sessions {
            checks.append(
                await FitCheck.run(
                    system, "sign-in (company \(settings.companyDB), user \(settings.username))", advice: advice
                ) {
                    let session = try await sessions.signIn()
                    let answer = try? JSONDecoder().decode(B1LoginAnswer.self, from: session.signInAnswer)
                    let version = answer?.Version.map { "Service Layer version \($0)" } ?? "version not stated"
                    let timeout = answer?.SessionTimeout.map { ", sessions end after \($0) idle minutes" } ?? ""
                    return
                        "signed in to \(settings.companyDB) (\(settings.isV2 ? "b1s/v2" : "b1s/v1")); \(version)\(timeout)"
                })
            guard checks.last?.outcome == .pass else { return checks }
        }
        let reads: [(check: String, entitySet: String, filter: ODataFilter?, noun: String)] = [
            ("read business partners (suppliers)", "BusinessPartners", .eq("CardType", "cSupplier"), "suppliers"),
            ("read chart of accounts", "ChartOfAccounts", nil, "accounts"),
            ("read dimensions", "Dimensions", nil, "dimensions"),
            ("read profit centers", "ProfitCenters", nil, "profit centers"),
            ("read purchase orders", "PurchaseOrders", nil, "purchase orders"),
            ("read drafts", "Drafts", .eq("DocObjectCode", "oPurchaseInvoices"), "A/P invoice drafts"),
            ("read A/P invoices", "PurchaseInvoices", nil, "A/P invoices"),
        ]
        for read in reads {
            checks.append(
                await FitCheck.run(system, read.check, advice: { advice($0, entitySet: read.entitySet) }) {
                    "\(try await client.count(read.entitySet, filter: read.filter)) \(read.noun)"
                })
        }
        checks.append(
            await FitCheck.run(
                system, "purchase order number field \(settings.purchaseOrderNumberField)", advice: advice
            ) {
                let found = try await purchaseOrders(numbers: ["MLC-PING-\(UUID().uuidString.prefix(8))"])
                return "lookup by \(settings.purchaseOrderNumberField) works (\(found.count) match for a test number)"
            })
        if !settings.costingCodes.isEmpty {
            checks.append(
                await FitCheck.run(system, "costing code mapping", advice: advice) {
                    let dimensions: [B1Dimension] = try await client.list("Dimensions", ODataQuery())
                    let active = Set(dimensions.filter { $0.IsActive != "tNO" }.map(\.DimensionCode))
                    for (code, field) in settings.costingCodes.sorted(by: { $0.key < $1.key }) {
                        let number = field == "CostingCode" ? 1 : Int(field.dropFirst("CostingCode".count)) ?? 0
                        guard active.contains(number) else {
                            throw ConnectorError(
                                .configInvalid,
                                "\(code) is mapped to \(field), but dimension \(number) is not active in SAP Business One"
                            )
                        }
                    }
                    return "\(settings.costingCodes.count) dimension(s) mapped to active B1 dimensions"
                })
        }
        checks.append(
            FitCheck(
                system: system,
                check: settings.draftMode == .draft ? "create A/P invoice drafts" : "create A/P invoices",
                outcome: .unchecked,
                detail: "SAP Business One has no dry run for a create; the first document proves it",
                fix:
                    "the B1 user needs full authorization for \(settings.draftMode == .draft ? "Drafts and A/P Invoices" : "A/P Invoices") (Administration > System Initialization > Authorizations > General Authorizations)"
            ))
        return checks
    }

    /// What to change, and on which side, read from the error.
    func advice(_ error: ConnectorError) -> String? { advice(error, entitySet: nil) }

    func advice(_ error: ConnectorError, entitySet: String?) -> String? {
        switch error.code {
        case .authRejected:
            return entitySet == nil
                ? "SAP Business One refused the sign-in: check erp.sapBusinessOne.companyDB (the company database name, e.g. SBODEMOUS), username and password in the connection, and that the user is not locked in B1"
                : "the B1 user may not read \(entitySet ?? "this entity"): grant it read authorization in B1 (General Authorizations), or sign in with another user"
        case .urlRejected, .httpTransport, .httpTimeout, .upstreamUnavailable:
            return
                "the Service Layer did not answer: check erp.sapBusinessOne.serviceLayerURL (https://host:50000/b1s/v1), that its host is in network.allowedHosts, and that the Service Layer runs and its port is open to ml-connector"
        case .upstreamRejected:
            if let entitySet, error.httpStatus == 404 {
                return
                    "this Service Layer has no \(entitySet) (older version or another name): check /b1s/v1/$metadata on the B1 server"
            }
            if error.message.contains(settings.purchaseOrderNumberField) {
                return
                    "purchase orders have no field \(settings.purchaseOrderNumberField): create the user-defined field on the PO header in B1, or set erp.sapBusinessOne.purchaseOrderNumberField to NumAtCard"
            }
            return "SAP Business One refused the read: see the detail, and the B1 user's authorizations"
        case .configInvalid:
            return
                "map each dimension in erp.sapBusinessOne.costingCodes to the CostingCode field of an active B1 dimension (Financials > Cost Accounting > Dimensions)"
        default:
            return nil
        }
    }
}
