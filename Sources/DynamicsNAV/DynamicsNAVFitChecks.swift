import ConnectorCore
import ConnectorHTTP
import Foundation
import OData

extension DynamicsNAVConnector: FitChecking {
    /// NAV's part of "see if we fit", all reads: the server and credentials (`$metadata`), each published web
    /// service the connection names (by its setting, with the page to publish when one is missing), the company,
    /// a sample read of every page the flows use, and the journal batch where invoices go to the journal.
    package func fitChecks() async -> [FitCheck] {
        let system = DynamicsNAVSettings.kind
        var checks: [FitCheck] = []
        var metadata: NAVMetadata?
        checks.append(
            await FitCheck.run(system, "server and sign-in (\(settings.authentication.rawValue))", advice: advice) {
                let parsed = NAVMetadata.parse(try await client.metadata())
                metadata = parsed
                return "$metadata lists \(parsed.services.count) published web services"
            })
        guard let metadata else { return checks }
        let problems = PublishedServices.problems(metadata, settings: settings)
        checks.append(
            FitCheck(
                system: system, check: "published web services", outcome: problems.isEmpty ? .pass : .fail,
                detail: problems.isEmpty
                    ? settings.services.map(\.name).joined(separator: ", ") + " published, with their lines and fields"
                    : problems.joined(separator: "; "),
                fix: problems.isEmpty
                    ? nil
                    : "in NAV, open Web Services, add each missing page (object type Page, the ID named above) under the service name the connection uses and tick Published; or change the erp.dynamicsNAV setting to the name it was published under"
            ))
        let company =
            settings.company.map { "company \($0.debugDescription)" } ?? "company id \(settings.companyId ?? "")"
        checks.append(
            await FitCheck.run(system, company, advice: advice) {
                _ = try await page(settings.vendorService, filter: nil, order: [("No", .asc)], top: 1)
                return "\(company) answers"
            })
        guard checks.last?.outcome == .pass else { return checks }
        for (setting, service) in settings.services where metadata.services[service] != nil {
            checks.append(
                await FitCheck.run(system, "read \(service) (\(setting))", advice: advice) {
                    let rows = try await page(service, filter: nil, order: [], top: 5)
                    return rows.isEmpty ? "readable, empty" : "readable (\(rows.count) sample rows)"
                })
        }
        if settings.writesJournal, metadata.services[settings.journalService] != nil {
            checks.append(
                await FitCheck.run(
                    system, "journal \(settings.journalTemplate)/\(settings.journalBatch)", advice: advice
                ) {
                    let rows = try await client.list(
                        settings.journalService, ODataQuery(filter: journalBatchFilter, top: 1))
                    return
                        "readable (\(rows.isEmpty ? "no lines yet" : "holds lines")); that the template and batch exist is proven by the first line written"
                })
        }
        checks.append(
            FitCheck(
                system: system, check: "create purchase invoices, journal lines, purchase orders and vendors",
                outcome: .unchecked,
                detail: "OData pages have no dry run for an insert; the first document proves it",
                fix:
                    "the NAV user needs insert and modify permission on Purchase Header/Line, Gen. Journal Line and Vendor (e.g. the permission sets for purchasing and general journals)"
            ))
        return checks
    }

    func advice(_ error: ConnectorError) -> String? {
        switch error.code {
        case .authRejected:
            if error.message.contains("Windows authentication") {
                return
                    "set the NAV server instance's credential type to NavUserPassword (or AccessControlService for OAuth), or publish the web services on a second instance that uses it; ml-connector does not do NTLM/Negotiate"
            }
            return
                "NAV refused the credentials: check erp.dynamicsNAV.username (the NAV user name, not an e-mail) and accessKey (the user's Web Service Access Key on the user card, not expired)"
        case .urlRejected, .httpTransport, .httpTimeout, .upstreamUnavailable:
            return
                "the server did not answer: check erp.dynamicsNAV.oDataURL (https://server:7048/Instance/ODataV4), that its host is in network.allowedHosts, that OData services are enabled on the instance (ODataServicesEnabled) and the port is open"
        case .upstreamRejected:
            if error.httpStatus == 405 {
                return "OData services are turned off on the server instance (ODataServicesEnabled): turn them on"
            }
            return
                "NAV refused the read: check erp.dynamicsNAV.company (the exact, case-sensitive company name) and the user's permissions"
        case .configInvalid:
            return "publish the missing pages on the Web Services page, or fix the erp.dynamicsNAV settings named above"
        default:
            return nil
        }
    }
}
