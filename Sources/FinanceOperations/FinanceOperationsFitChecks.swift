import ConnectorCore
import ConnectorHTTP
import Foundation
import OData

extension FinanceOperationsConnector: FitChecking {
    /// Finance & Operations' part of "see if we fit", all reads: Entra sign-in for the environment's scope, the app's
    /// registration in F&O (a 401 from `/data` with a valid token), the legal entity (pinned, or the principal's
    /// default company), and a count of every entity the flows read. F&O has no dry run for a create, so write
    /// access is reported as unchecked rather than guessed.
    package func fitChecks() async -> [FitCheck] {
        let system = FinanceOperationsSettings.kind
        var checks: [FitCheck] = []
        if let tokens {
            checks.append(
                await FitCheck.run(
                    system, "sign-in (Microsoft Entra, tenant \(settings.tenantId), scope \(settings.effectiveScope))",
                    advice: signInAdvice
                ) {
                    let token = try await tokens.signIn()
                    return "token issued, valid until \(Timestamp.format(token.expiresAt))"
                })
            guard checks.last?.outcome == .pass else { return checks }
        }
        var area: String?
        checks.append(
            await FitCheck.run(system, "app registered in F&O and default company", advice: advice) {
                let company = try await defaultCompany()
                return "the app's user reads /data; its default company is \(company)"
            })
        guard checks.last?.outcome == .pass else { return checks }
        checks.append(
            await FitCheck.run(system, "legal entity (dataAreaId)", advice: advice) {
                let pinned = try await dataAreaId()
                let vendors = try await client.count(
                    "VendorsV2", FinanceOperationsClient.scoped(ODataQuery(), dataAreaId: pinned))
                area = pinned
                let how = settings.dataAreaId == nil ? "the default company (no dataAreaId set)" : "pinned"
                guard vendors > 0 else {
                    throw ConnectorError(
                        .connectionInvalid,
                        "legal entity \(pinned) has no vendors the app's user can read (cross-company=true)")
                }
                return "\(pinned), \(how): \(vendors) vendors"
            })
        guard let area else { return checks }
        var accountQuery = ODataQuery()
        if let chart = settings.chartOfAccounts { accountQuery.filter = .eq("ChartOfAccounts", chart) }
        let reads: [(check: String, entitySet: String, query: ODataQuery, noun: String)] = [
            ("read main accounts", "MainAccounts", accountQuery, "main accounts"),
            ("read financial dimensions", "DimensionAttributes", ODataQuery(), "dimensions"),
            ("read financial dimension values", "FinancialDimensionValues", ODataQuery(), "dimension values"),
            (
                "read purchase orders", "PurchaseOrderHeadersV2",
                FinanceOperationsClient.scoped(ODataQuery(), dataAreaId: area), "purchase orders"
            ),
            (
                "read pending vendor invoices", "VendorInvoiceHeaders",
                FinanceOperationsClient.scoped(ODataQuery(), dataAreaId: area), "pending vendor invoices"
            ),
        ]
        for read in reads {
            checks.append(
                await FitCheck.run(system, read.check, advice: { advice($0, entitySet: read.entitySet) }) {
                    let count = try await client.count(read.entitySet, read.query)
                    if read.entitySet == "MainAccounts", count == 0 {
                        throw ConnectorError(
                            .connectionInvalid,
                            "no main accounts\(settings.chartOfAccounts.map { " in chart of accounts \($0)" } ?? "")")
                    }
                    return "\(count) \(read.noun)"
                })
        }
        if settings.readsPaymentStatus {
            checks.append(
                await FitCheck.run(
                    system, "read vendor transactions (payment status, \(settings.vendorTransactionEntity))",
                    advice: transactionAdvice
                ) {
                    // One row with every configured field selected: an entity or field name the environment does not
                    // have is refused here (404 or 400), not at the first sync.
                    let names =
                        ["dataAreaId"]
                        + FinanceOperationsSettings.vendorTransactionFieldDefaults.keys.sorted().map(
                            settings.transactionField)
                    let _: [[String: JSONValue]] = try await client.list(
                        settings.vendorTransactionEntity,
                        FinanceOperationsClient.scoped(
                            ODataQuery(select: names.map { ODataField($0) }, top: 1), dataAreaId: area))
                    let invoices = try await client.count(
                        settings.vendorTransactionEntity,
                        FinanceOperationsClient.scoped(ODataQuery(filter: invoiceTransactions), dataAreaId: area))
                    return
                        "\(invoices) invoice transactions (\(settings.invoiceTransactionTypes.joined(separator: ", "))) in \(area)"
                })
        }
        if !settings.dimensions.isEmpty {
            checks.append(
                await FitCheck.run(system, "dimensions named in erp.financeOperations.dimensions", advice: advice) {
                    let attributes: [FODimensionAttribute] = try await client.list("DimensionAttributes", ODataQuery())
                    let names = Set(attributes.map(\.DimensionName))
                    let missing = settings.dimensions.filter { !names.contains($0) }
                    guard missing.isEmpty else {
                        throw ConnectorError(
                            .connectionInvalid,
                            "F&O has no financial dimension \(missing.joined(separator: ", ")) (it has \(names.sorted().prefix(20).joined(separator: ", ")))"
                        )
                    }
                    return "\(settings.dimensions.joined(separator: "-")) (the order of DimensionDisplayValue)"
                })
        }
        checks.append(
            FitCheck(
                system: system, check: "create pending vendor invoices", outcome: .unchecked,
                detail: "F&O has no dry run for a create; the first pending invoice proves it",
                fix:
                    "the app's F&O user needs a role that maintains pending vendor invoices (e.g. Accounts payable clerk) in \(area)"
            ))
        return checks
    }

    func advice(_ error: ConnectorError) -> String? { advice(error, entitySet: nil) }

    /// The vendor transaction entity and its field names are settings because none is confirmed (reference §2.2).
    func transactionAdvice(_ error: ConnectorError) -> String? {
        switch error.code {
        case .upstreamRejected where error.httpStatus == 404:
            return
                "this environment has no public entity \(settings.vendorTransactionEntity): set erp.financeOperations.vendorTransactionEntity to the vendor transactions entity set /data/$metadata lists (or leave it empty: no payment status)"
        case .upstreamRejected where error.httpStatus == 400:
            return
                "\(settings.vendorTransactionEntity) refused a field or enum: check erp.financeOperations.vendorTransactionFields (\(FinanceOperationsSettings.vendorTransactionFieldDefaults.keys.sorted().map { "\($0)=\(settings.transactionField($0))" }.joined(separator: ", "))), transactionTypeEnum and invoiceTransactionTypes against /data/$metadata"
        default:
            return advice(error, entitySet: settings.vendorTransactionEntity)
        }
    }

    /// A failed sign-in is Entra's answer: never the F&O registration.
    func signInAdvice(_ error: ConnectorError) -> String? {
        switch error.code {
        case .urlRejected, .httpTransport, .httpTimeout, .upstreamUnavailable:
            return "Entra did not answer: check erp.financeOperations.authorityURL (https://login.microsoftonline.com)"
        default:
            return
                "Entra refused the sign-in: check erp.financeOperations.tenantId, clientId and the client secret's value; the scope asked is \(settings.effectiveScope) (the environment's URL + /.default)"
        }
    }

    func advice(_ error: ConnectorError, entitySet: String?) -> String? {
        switch error.code {
        case .authRejected where error.httpStatus == 401:
            return
                "register the app in F&O: System administration > Setup > Microsoft Entra applications, client id \(settings.clientId), mapped to an enabled user with the roles the flows need"
        case .authRejected, .authFailed:
            return
                "Entra refused the sign-in: check erp.financeOperations.tenantId, clientId and the client secret's value; the scope is \(settings.effectiveScope) (the environment's URL + /.default)"
        case .urlRejected, .httpTransport, .httpTimeout, .upstreamUnavailable:
            return
                "the environment did not answer: check erp.financeOperations.environmentURL (https://<env>.operations.dynamics.com) and that its host is allowed"
        case .connectionInvalid:
            return
                "set erp.financeOperations.dataAreaId to the legal entity (e.g. usmf), chartOfAccounts to its ledger's chart of accounts, and dimensions to names of DimensionAttributes"
        case .upstreamRejected where error.httpStatus == 403:
            return "the app's F&O user may not read \(entitySet ?? "this entity"): give it a role with read access"
        case .upstreamRejected where error.httpStatus == 404:
            return "this environment has no public entity \(entitySet ?? ""): check /data/$metadata"
        default:
            return nil
        }
    }
}
