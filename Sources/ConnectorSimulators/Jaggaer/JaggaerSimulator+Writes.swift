import Foundation

// The write endpoints of the simulated JAGGAER tenant (UNCONFIRMED paths, the connector's defaults):
// - `PUT|GET /j1p/api/public/ji/v1/suppliers/{number}` (counter `jaggaer PUT suppliers/{number}`)
// - `PUT|GET /j1p/api/public/ji/v1/accountingcodes/{segment}/{code}` (counter `jaggaer PUT accountingcodes/{segment}/{code}`)
// - `PUT|GET /j1p/api/public/ji/v1/invoices/{id}/paymentstatus` (counter `jaggaer PUT invoices/{id}/paymentstatus`);
//   setting it also shows in the invoice's `header.paymentStatus` (its `lastUpdate` is left as it was, so a
//   status set by the ERP side does not send the invoice round the poll again).
// - control: `GET /_sim/jaggaer/writes` (everything written, with counts).
// Every write answers `{"returnCode": 0, "returnMessage": "Created" | "Updated" | "Unchanged"}`.
extension JaggaerSimulator {
    static let suppliersPath = "/j1p/api/public/ji/v1/suppliers"
    static let codingPath = "/j1p/api/public/ji/v1/accountingcodes"

    /// The path's segments, split before percent-decoding (a supplier number may hold a `/`), then decoded.
    private static func segments(_ request: SimRequest) -> [String] {
        let raw =
            request.rawPath.count > 1 && request.rawPath.hasSuffix("/")
            ? String(request.rawPath.dropLast()) : request.rawPath
        return raw.split(separator: "/", omittingEmptySubsequences: false).map {
            SimRequest.percentDecode(String($0), plusIsSpace: false)
        }
    }

    /// The write endpoint a request names, or nil.
    func writeRoute(_ request: SimRequest) -> RouteMatch? {
        let parts = Self.segments(request)
        let path = "/" + parts.dropFirst().prefix(6).joined(separator: "/")
        if path == Self.suppliersPath, parts.count == 8, !parts[7].isEmpty {
            return RouteMatch(system: "jaggaer", endpoint: "suppliers/{number}")
        }
        if path == Self.codingPath, parts.count == 9, !parts[7].isEmpty, !parts[8].isEmpty {
            return RouteMatch(system: "jaggaer", endpoint: "accountingcodes/{segment}/{code}")
        }
        if path == Self.invoicesPath, parts.count == 9, parts[8] == "paymentstatus" {
            return RouteMatch(system: "jaggaer", endpoint: "invoices/{id}/paymentstatus")
        }
        return nil
    }

    static func isWriteEndpoint(_ endpoint: String) -> Bool {
        ["suppliers/{number}", "accountingcodes/{segment}/{code}", "invoices/{id}/paymentstatus"].contains(endpoint)
    }

    private func writeError(_ status: Int, _ message: String) -> SimResponse {
        .json(status, .object(SimJSONObject(["returnCode": .int(status), "returnMessage": .string(message)])))
    }

    private func accepted(_ outcome: JaggaerWriteStore.Outcome) -> SimResponse {
        .json(
            outcome == .created ? 201 : 200,
            .object(SimJSONObject(["returnCode": .int(0), "returnMessage": .string(outcome.rawValue)])))
    }

    /// Handles an authorized request to a write endpoint.
    func handleWrite(_ request: SimRequest, route: RouteMatch) -> SimResponse {
        let parts = Self.segments(request)
        guard request.method == "PUT" || request.method == "GET" else {
            return writeError(405, "Method \(request.method) not allowed")
        }
        let body: SimJSON?
        if request.method == "PUT" {
            guard let parsed = try? request.jsonBody() else { return writeError(400, "The body is not valid JSON") }
            body = parsed
        } else {
            body = nil
        }
        switch route.endpoint {
        case "suppliers/{number}":
            let number = parts[7]
            guard let body else {
                return writes.supplier(number).map { .json(200, $0) } ?? writeError(404, "Supplier \(number) not found")
            }
            if let problem = JaggaerWriteValidation.supplier(body, number: number) { return writeError(400, problem) }
            return accepted(writes.upsertSupplier(number: number, body))
        case "accountingcodes/{segment}/{code}":
            let (segment, code) = (parts[7], parts[8])
            guard let body else {
                return writes.codingValue(segment: segment, code: code).map { .json(200, $0) }
                    ?? writeError(404, "Accounting code \(segment)/\(code) not found")
            }
            if let problem = JaggaerWriteValidation.codingValue(body, segment: segment, code: code) {
                return writeError(400, problem)
            }
            return accepted(writes.upsertCodingValue(segment: segment, code: code, body))
        default:
            guard let id = Int(parts[7]), var invoice = invoices.invoice(id: id) else {
                return writeError(404, "Invoice \(parts[7]) not found")
            }
            guard let body else {
                return writes.paymentStatus(invoiceId: id).map { .json(200, $0) }
                    ?? writeError(404, "No payment status was set on invoice \(id)")
            }
            if let problem = JaggaerWriteValidation.paymentStatus(body) { return writeError(400, problem) }
            let outcome = writes.setPaymentStatus(invoiceId: id, body)
            if case .object(var root) = invoice, case .object(var header)? = root["header"] {
                header["paymentStatus"] = body["paymentStatus"]
                root["header"] = .object(header)
                invoice = .object(root)
                try? invoices.upsert(invoice)
            }
            return accepted(outcome)
        }
    }

    /// `GET /_sim/jaggaer/writes`.
    func writesControl(_ request: SimRequest) -> SimResponse? {
        guard request.method == "GET", request.path == "/_sim/jaggaer/writes" else { return nil }
        return .json(200, writes.json)
    }
}
