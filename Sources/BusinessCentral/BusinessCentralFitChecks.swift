import ConnectorCore
import ConnectorHTTP
import Foundation

extension BusinessCentralConnector: FitChecking {
    /// Business Central's part of "see if we fit", all reads: Entra sign-in, environment and company, read access
    /// and a count of every entity the flows read. BC has no dry run for creates, so write access is reported as
    /// unchecked (the first draft proves it) rather than guessed.
    package func fitChecks() async -> [FitCheck] {
        let system = "businessCentral"
        var checks: [FitCheck] = []
        if let tokens {
            checks.append(
                await FitCheck.run(
                    system, "sign-in (Microsoft Entra, tenant \(settings.tenantId))", advice: Self.advice
                ) {
                    let token = try await tokens.signIn()
                    return "token issued, valid until \(Timestamp.format(token.expiresAt))"
                })
            guard checks.last?.outcome == .pass else { return checks }
        }
        var company: String?
        checks.append(
            await FitCheck.run(system, "environment \(settings.environment) and company", advice: Self.advice) {
                let companies = try await client.companies()
                let id = try await companyId()
                company = id
                let name = companies.first { $0.id.lowercased() == id.lowercased() }?.name ?? id
                return "\(companies.count) compan\(companies.count == 1 ? "y" : "ies"); using \(name)"
            })
        guard let company else { return checks }
        checks.append(
            await FitCheck.run(system, "read vendors", advice: Self.advice) {
                let vendors = try await client.vendors(companyId: company)
                let blocked = vendors.filter { !($0.blocked ?? "").trimmingWhitespace(newlines: false).isEmpty }.count
                return "\(vendors.count) vendors (\(blocked) blocked)"
            })
        checks.append(
            await FitCheck.run(system, "read G/L accounts", advice: Self.advice) {
                let accounts = try await client.accounts(companyId: company)
                let posting = accounts.filter { $0.accountType == nil || $0.accountType == "Posting" }.count
                return "\(accounts.count) accounts (\(posting) posting)"
            })
        checks.append(
            await FitCheck.run(system, "read dimensions", advice: Self.advice) {
                let dimensions = try await client.dimensions(companyId: company)
                let values = dimensions.reduce(0) { $0 + ($1.dimensionValues ?? []).count }
                return "\(dimensions.count) dimensions, \(values) values"
            })
        checks.append(
            await FitCheck.run(system, "read purchase invoices", advice: Self.advice) {
                // The natural-key lookup every write does first, with a key no invoice has.
                let found = try await client.findPurchaseInvoices(
                    companyId: company, vendorNumber: "MLC-PING",
                    vendorInvoiceNumber: "MLC-PING-\(UUID().uuidString.prefix(8))")
                return "lookup by vendor and vendor invoice number works (\(found.count) match for a test key)"
            })
        checks.append(
            await FitCheck.run(system, "read purchase orders (PO matching)", advice: Self.advice) {
                let found = try await client.purchaseOrders(
                    companyId: company, numbers: ["MLC-PING-\(UUID().uuidString.prefix(8))"])
                return "lookup by number works (\(found.count) match for a test number)"
            })
        checks.append(
            await FitCheck.run(system, "batch lookup ($batch)", advice: Self.advice) {
                // How a page of invoices is looked up: one request for their natural keys and POs.
                let test = "MLC-PING-\(UUID().uuidString.prefix(8))"
                // With purchase credit memos on, the batch also filters `purchaseCreditMemos` by
                // `vendorCreditMemoNumber`, which proves the tenant's API build has that field.
                let read = try await client.lookUp(
                    companyId: company, vendorInvoiceNumbers: [test], purchaseOrderNumbers: [test],
                    vendorCreditMemoNumbers: settings.purchaseCreditMemos ? [test] : [])
                let matches = read.invoices.count + read.orders.count + read.creditMemos.count
                return "one $batch request answers a page's lookups (\(matches) matches for test keys)"
            })
        if settings.analyticsVendorLedgerEntries {
            checks.append(
                await FitCheck.run(system, "read vendor ledger entries (Analytics API)", advice: Self.advice) {
                    // A posting date no entry has: proves the endpoint and the filter without reading the ledger.
                    let rows = try await client.vendorLedgerRows(
                        companyId: company, postedFrom: LocalDate(year: 9999, month: 12, day: 31))
                    return "the Analytics API answers (\(rows.count) entries posted on 9999-12-31)"
                })
        }
        checks.append(
            FitCheck(
                system: system, check: "create draft purchase invoices", outcome: .unchecked,
                detail: "Business Central has no dry run for a create; the first draft proves it",
                fix:
                    "the app needs a permission set that inserts purchase invoices (e.g. D365 AUTOMATION) on BC's Microsoft Entra Applications page"
            ))
        return checks
    }

    /// What to change, read from the error: Entra's AADSTS codes, BC's status codes.
    static func advice(_ error: ConnectorError) -> String? {
        let message = error.message
        if message.contains("AADSTS7000215") {
            return
                "the client secret is wrong: give the secret's Value (not its Secret ID) from Entra > App registrations > Certificates & secrets as erp.businessCentral.clientSecret"
        }
        if message.contains("AADSTS7000222") {
            return
                "the client secret has expired: create a new one in Entra and update erp.businessCentral.clientSecret"
        }
        if message.contains("AADSTS700016") {
            return "Entra has no app with this client id in the tenant: check erp.businessCentral.clientId and tenantId"
        }
        if message.contains("AADSTS90002") || message.contains("AADSTS900023") {
            return
                "Entra does not know this tenant: check erp.businessCentral.tenantId (a GUID or contoso.onmicrosoft.com)"
        }
        if message.contains("analyticsVendorLedgerEntries") {
            return
                "this environment does not serve the Analytics API: set erp.businessCentral.analyticsVendorLedgerEntries to false (payments then show once an invoice is Paid)"
        }
        if message.contains("no company named") {
            return "set erp.businessCentral.companyName to one of the companies listed, or give companyId"
        }
        switch error.httpStatus {
        case 401:
            return
                "Business Central refused the app's token: enable the app on BC's Microsoft Entra Applications page (State Enabled, grant consent) and give it a permission set such as D365 AUTOMATION"
        case 403:
            return
                "the app's permission sets in Business Central do not allow this read: add one that does on BC's Microsoft Entra Applications page"
        case 404:
            return
                "check erp.businessCentral.environment (the environment's name in the BC admin center) and apiBaseURL"
        default:
            break
        }
        if error.code == .httpTransport || error.code == .upstreamUnavailable {
            return "Business Central or Entra could not be reached: check authorityURL, apiBaseURL and the network"
        }
        return nil
    }
}
