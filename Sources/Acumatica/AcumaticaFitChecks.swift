import ConnectorCore
import Foundation

/// "See if we fit" on Acumatica: sign-in, the endpoint version deployed on the instance, and read permission with
/// a sample count of every entity the flows use; each failure with what to change where.
package struct AcumaticaFitChecks {
    let connector: AcumaticaConnector

    var system: String { connector.system }
    var settings: AcumaticaSettings { connector.settings }

    /// The entities read, with the screen whose access rights govern them (for the fix).
    static let entities: [(entity: String, screen: String, what: String)] = [
        ("Vendor", "Vendors (AP303000)", "vendors"),
        ("Account", "Chart of Accounts (GL202500)", "G/L accounts"),
        ("Subaccount", "Subaccounts (GL203000)", "subaccounts"),
        ("PurchaseOrder", "Purchase Orders (PO301000)", "purchase orders"),
        ("Bill", "Bills and Adjustments (AP301000)", "bills"),
    ]

    static let sample = 50

    func run() async -> [FitCheck] {
        var checks: [FitCheck] = []
        let signIn = await FitCheck.run(system, "sign-in", advice: signInAdvice) { try await connector.signIn() }
        checks.append(signIn)
        guard signIn.outcome == .pass else { return checks }
        let endpoint = await endpointCheck()
        checks.append(endpoint)
        guard endpoint.outcome == .pass else { return checks }
        for (entity, screen, what) in Self.entities {
            checks.append(
                await FitCheck.run(system, "read \(entity)", advice: { readAdvice($0, screen: screen) }) {
                    let records = try await connector.client.page(entity, top: Self.sample, skip: 0)
                    let count = records.count >= Self.sample ? "at least \(Self.sample)" : "\(records.count)"
                    return "\(count) \(what) readable"
                })
        }
        checks.append(
            FitCheck(
                system: system, check: "create bills", outcome: .unchecked,
                detail:
                    "Acumatica offers no way to test the right to create a bill without creating one; bills are created on hold",
                fix: nil))
        return checks
    }

    private func signInAdvice(_ error: ConnectorError) -> String? {
        switch settings.authentication {
        case .oauth:
            if error.message.contains("client id or secret") {
                return
                    "Check erp.acumatica.clientId (GUID@Tenant) and clientSecret against Connected Applications (SM303010); the application's flow must be Resource Owner Password Credentials"
            }
            return
                "Check erp.acumatica.username and password of the integration user, and that the Connected Application (SM303010) uses the Resource Owner Password Credentials flow"
        case .cookie:
            if error.httpStatus == 429 {
                return
                    "The licence's API users are all signed in: sign other integrations out, or raise the limit (License Monitoring Console SM604000)"
            }
            return
                "Check erp.acumatica.username, password, tenant and branch; the user must be allowed to sign in to the tenant"
        }
    }

    private func readAdvice(_ error: ConnectorError, screen: String) -> String? {
        switch error.httpStatus {
        case 401, 403:
            "Give the integration user's role at least view rights on \(screen) (User Roles SM201005)"
        case 404:
            "The endpoint \(settings.endpointName)/\(settings.endpointVersion) does not serve this entity: extend the endpoint on Web Service Endpoints (SM207060) or pick a version that has it"
        case 429:
            "The licence's request limits were hit: lower erp.acumatica.requestsPerMinute or check the License Monitoring Console (SM604000)"
        default:
            nil
        }
    }

    /// The pinned endpoint version must be deployed. `GET /entity` lists what the instance serves; where that list
    /// is unavailable, a read under the endpoint tells (a version not deployed answers 404, UNCONFIRMED).
    private func endpointCheck() async -> FitCheck {
        let wanted = "\(settings.endpointName)/\(settings.endpointVersion)"
        let pointer = "Web Service Endpoints (SM207060)"
        do {
            return Self.endpointVerdict(try await connector.client.siteInfo(), settings: settings)
        } catch {
            // No endpoint list: try the endpoint itself.
            let advice = { (error: ConnectorError) -> String? in
                error.httpStatus == 404
                    ? "The instance does not serve \(wanted): look up the deployed versions on \(pointer) and set erp.acumatica.endpointVersion"
                    : nil
            }
            return await FitCheck.run(system, "endpoint version", advice: advice) {
                _ = try await connector.client.page("Vendor", top: 1, skip: 0)
                return "the instance answers under \(wanted) (it lists no endpoints at /entity)"
            }
        }
    }

    /// Whether the instance's endpoint list (`GET /entity`) has the pinned endpoint; if not, which to try.
    package static func endpointVerdict(_ site: AcumaticaSiteInfo, settings: AcumaticaSettings) -> FitCheck {
        let system = "acumatica"
        let wanted = "\(settings.endpointName)/\(settings.endpointVersion)"
        let pointer = "Web Service Endpoints (SM207060)"
        let endpoints = site.endpoints ?? []
        let build = site.version?.acumaticaBuildVersion.map { " (Acumatica build \($0))" } ?? ""
        if endpoints.contains(where: {
            $0.name.caseInsensitiveCompare(settings.endpointName) == .orderedSame
                && $0.version == settings.endpointVersion
        }) {
            return FitCheck(
                system: system, check: "endpoint version", outcome: .pass,
                detail: "the instance serves \(wanted)\(build)")
        }
        let sameName = endpoints.filter { $0.name.caseInsensitiveCompare(settings.endpointName) == .orderedSame }
            .map(\.version).sorted()
        let fix: String
        if !sameName.isEmpty {
            fix =
                "Set erp.acumatica.endpointVersion to one the instance serves: \(sameName.joined(separator: ", ")) (fields differ between versions; see \(pointer))"
        } else if !endpoints.isEmpty {
            let all = endpoints.map { "\($0.name)/\($0.version)" }.sorted()
            fix =
                "Set erp.acumatica.endpointName and endpointVersion to one the instance serves: \(all.prefix(12).joined(separator: ", "))"
        } else {
            fix = "Look up the endpoint name and version on \(pointer)"
        }
        return FitCheck(
            system: system, check: "endpoint version", outcome: .fail,
            detail: "the instance does not serve \(wanted)\(build)", fix: fix)
    }
}
