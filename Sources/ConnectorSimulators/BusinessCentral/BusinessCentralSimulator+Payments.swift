import Foundation

// `POST /_sim/erp/pay` `{"vendorNumber", "vendorInvoiceNumber", "companyId"?, "amount"?}` or `{"id", …}`: pays a
// purchase invoice (a draft is posted first), as a payment applied in Business Central would: in full, or `amount`
// of it (a partial payment shows in the Analytics API's vendor ledger entries only). The reply is the invoice as the
// API shows it. For tests and the demo's payment-status leg.
extension BusinessCentralSimulator {
    func paymentControl(_ request: SimRequest) -> SimResponse? {
        guard request.method == "POST", request.path == "/_sim/erp/pay" else { return nil }
        let usage =
            "expected {\"vendorNumber\": \"…\", \"vendorInvoiceNumber\": \"…\"} or {\"id\": \"…\"}, with an optional \"companyId\""
        guard let body = try? request.jsonBody(), body.objectValue != nil else { return controlError(usage) }
        let companyId =
            body["companyId"]?.stringValue.flatMap { store.resolveCompany($0) }
            ?? store.companies.first?.company.id
        guard let companyId, let company = store.company(id: companyId) else {
            return controlError("unknown company", status: 404)
        }
        let id: String?
        if let given = body["id"]?.stringValue {
            id = given
        } else if let vendor = body["vendorNumber"]?.stringValue,
            let number = body["vendorInvoiceNumber"]?.stringValue
        {
            id = company.purchaseInvoices.first { $0.vendorNumber == vendor && $0.vendorInvoiceNumber == number }?.id
            if id == nil { return controlError("no purchase invoice \(number) of vendor \(vendor)", status: 404) }
        } else {
            return controlError(usage)
        }
        do throws(BCError) {
            let amount = body["amount"].flatMap { $0.decimalValue }
            let paid = try store.markPaid(companyId: companyId, id: id ?? "", amount: amount)
            return .json(200, .object(paid.json(select: nil, expand: [], company: company)))
        } catch {
            return controlError(error.message, status: error.status)
        }
    }
}
