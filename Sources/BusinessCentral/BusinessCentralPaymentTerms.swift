import ConnectorCore
import Foundation
import Synchronization

// Payment terms for JAGGAER's suppliers: a BC vendor carries `paymentTermsId`, the id of a `paymentTerms` entity
// (API v2.0 resource `paymentTerm`: id, code, displayName, dueDateCalculation, …), not the code JAGGAER shows. The
// company's payment terms are a short list, read once per connector instance (one invocation) the first time a
// vendor sync meets a vendor with terms, and kept here; vendors without terms (empty or all-zero id) cost no read.

/// Payment-term codes by lower-cased id, as read from `paymentTerms` (nil until read).
package final class BusinessCentralPaymentTermCodes: Sendable {
    private let codes = Mutex<[String: String]?>(nil)

    package init() {}

    var cached: [String: String]? { codes.withLock { $0 } }

    func keep(_ map: [String: String]) { codes.withLock { $0 = map } }
}

extension BusinessCentralConnector {
    /// The payment-term code of each vendor's `paymentTermsId`, reading `paymentTerms` at most once per connector.
    /// A vendor whose id is not in the list (terms deleted since) gets no code.
    func paymentTermCodes(for vendors: [BCVendor], companyId: String) async throws -> [String: String] {
        guard vendors.contains(where: { Self.paymentTermsKey($0.paymentTermsId) != nil }) else { return [:] }
        if let cached = paymentTerms.cached { return cached }
        let terms = try await client.paymentTerms(companyId: companyId)
        let map = Dictionary(terms.map { ($0.id.lowercased(), $0.code) }, uniquingKeysWith: { first, _ in first })
        paymentTerms.keep(map)
        return map
    }

    /// The lookup key of a `paymentTermsId`: nil when the vendor has none (empty, or BC's all-zero GUID).
    static func paymentTermsKey(_ id: String?) -> String? {
        guard let id = id?.trimmingWhitespace(newlines: false).lowercased(), !id.isEmpty,
            id != "00000000-0000-0000-0000-000000000000"
        else { return nil }
        return id
    }

    /// The code for a vendor's payment terms, from the map `paymentTermCodes` returned.
    static func paymentTermsCode(_ vendor: BCVendor, codes: [String: String]) -> String? {
        guard let key = paymentTermsKey(vendor.paymentTermsId), let code = codes[key], !code.isEmpty else {
            return nil
        }
        return code
    }
}
