import ConnectorCore
import ConnectorHTTP
import Foundation
import OData

// Purchase credit memos (`purchaseCreditMemos`, API v2.0, page 30083 "APIV2 - Purchase Credit Memos"): a credit memo
// from JAGGAER becomes an unposted purchase credit memo, with positive amounts, never a negative invoice. Its natural
// key is the vendor and `vendorCreditMemoNumber` ("Vendor Cr. Memo No."), read by the single lookup and, when the
// setting is on, by both batch lookups too (the filtered read and the `$batch`).
//
// What Microsoft's docs say (checked 2026-12): the v2.0 resource page `resources/dynamics_purchasecreditmemo.md`
// (MicrosoftDocs/dynamics365smb-devitpro-pb, ms.date 2025-04-28) lists `vendorCreditMemoNumber` (string, no
// description) with `creditMemoDate`, `vendorNumber`, `status` and the bound actions `post` and `cancel`; the AL page
// in Microsoft's APIV2 app maps it to "Vendor Cr. Memo No.". The entity set itself was missing from v2.0 in November
// 2022 (microsoft/ALAppExtensions#20878: "not planned for this release") and is documented since 2024 (docs PRs
// #3302, #3350). The first BC version that ships it, and whether every build of the page has
// `vendorCreditMemoNumber`, is UNCONFIRMED: the docs give no version. Hence a connection setting
// (`erp.businessCentral.purchaseCreditMemos`, off by default; `ping-connection`'s batch check reads the field when
// it is on), and a credit memo on a connection without it waits in review (`type.unsupported` while mapping,
// `erp.credit_memo_unsupported` should one reach the write step).

/// `POST /companies({id})/purchaseCreditMemos`: header with its lines in one deep insert.
package struct BCPurchaseCreditMemoCreate: Encodable, Sendable, Hashable {
    package var vendorNumber: String
    package var vendorCreditMemoNumber: String
    package var creditMemoDate: String
    package var dueDate: String?
    package var postingDate: String?
    package var currencyCode: String?
    package var purchaseCreditMemoLines: [BCPurchaseInvoiceCreate.Line]

    package init(
        vendorNumber: String, vendorCreditMemoNumber: String, creditMemoDate: String, dueDate: String?,
        postingDate: String?, currencyCode: String?, purchaseCreditMemoLines: [BCPurchaseInvoiceCreate.Line]
    ) {
        self.vendorNumber = vendorNumber
        self.vendorCreditMemoNumber = vendorCreditMemoNumber
        self.creditMemoDate = creditMemoDate
        self.dueDate = dueDate
        self.postingDate = postingDate
        self.currencyCode = currencyCode
        self.purchaseCreditMemoLines = purchaseCreditMemoLines
    }
}

/// A purchase credit memo as BC returns it (the fields the connector reads).
package struct BCPurchaseCreditMemo: Decodable, Sendable, Hashable {
    package var id: String
    package var number: String?
    package var creditMemoDate: String?
    package var vendorNumber: String?
    package var vendorCreditMemoNumber: String?
    package var status: String?
    package var totalAmountIncludingTax: Decimal?
}

extension BusinessCentralClient {
    /// Purchase credit memos of a vendor with a given vendor credit memo number (the natural key).
    package func findPurchaseCreditMemos(companyId: String, vendorNumber: String, vendorCreditMemoNumber: String)
        async throws -> [BCPurchaseCreditMemo]
    {
        let filter = ODataFilter.eq("vendorNumber", vendorNumber).and(
            .eq("vendorCreditMemoNumber", vendorCreditMemoNumber))
        let url = URLBuilder.url(
            apiRoot, path: "/companies(\(try Self.guid(companyId)))/purchaseCreditMemos",
            query: [("$filter", try filter.render(.businessCentral))])
        return try await list(url)
    }

    /// Purchase credit memos holding any of several vendor credit memo numbers: the batch form of the lookup above
    /// (an `or` over that one field, chunked like the invoices'; the caller matches the vendor).
    package func findPurchaseCreditMemos(companyId: String, vendorCreditMemoNumbers: [String]) async throws
        -> [BCPurchaseCreditMemo]
    {
        var found: [BCPurchaseCreditMemo] = []
        for chunk in try Self.chunks(of: vendorCreditMemoNumbers, field: "vendorCreditMemoNumber") {
            let url = URLBuilder.url(
                apiRoot, path: "/companies(\(try Self.guid(companyId)))/purchaseCreditMemos",
                query: [
                    ("$filter", try ODataFilter.isIn("vendorCreditMemoNumber", chunk).render(.businessCentral)),
                    ("$select", "id,number,vendorCreditMemoNumber,vendorId,vendorNumber,status"),
                ])
            found += try await list(url) as [BCPurchaseCreditMemo]
        }
        return found
    }

    /// Creates an unposted purchase credit memo with its lines in one atomic deep insert. Never posts.
    package func createPurchaseCreditMemo(companyId: String, _ memo: BCPurchaseCreditMemoCreate) async throws
        -> BCPurchaseCreditMemo
    {
        let url = URLBuilder.url(apiRoot, path: "/companies(\(try Self.guid(companyId)))/purchaseCreditMemos")
        let request = HTTPRequest(
            method: "POST",
            url: url,
            headers: [("Content-Type", "application/json"), ("Accept", "application/json")],
            body: try JSONCoding.encode(memo),
            timeout: timeout,
            idempotent: false
        )
        return try await send(request)
    }
}

extension BusinessCentralConnector {
    /// Credit memos with the vendor's number: part of the natural-key lookup when the connection writes them.
    func findCreditMemos(vendorNumber: String, vendorInvoiceNumber: String) async throws -> [ERPDocumentRef] {
        guard settings.purchaseCreditMemos else { return [] }
        let company = try await companyId()
        return try await client.findPurchaseCreditMemos(
            companyId: company, vendorNumber: vendorNumber, vendorCreditMemoNumber: vendorInvoiceNumber
        )
        .map { ERPDocumentRef(system: system, id: $0.id, number: $0.number, status: $0.status) }
    }

    /// The credit memos among `memos` with each key's vendor and number (empty lists where none), for the batch
    /// lookups: a credit memo's `vendorCreditMemoNumber` is its natural key, as `vendorInvoiceNumber` an invoice's.
    static func matchCreditMemos(_ keys: [InvoiceNaturalKey], _ memos: [BCPurchaseCreditMemo], system: String)
        -> [InvoiceNaturalKey: [ERPDocumentRef]]
    {
        var found: [InvoiceNaturalKey: [ERPDocumentRef]] = [:]
        for key in keys {
            found[key] = memos.filter {
                sameCode($0.vendorNumber, key.vendorNumber)
                    && sameCode($0.vendorCreditMemoNumber, key.vendorInvoiceNumber)
            }
            .map { ERPDocumentRef(system: system, id: $0.id, number: $0.number, status: $0.status) }
        }
        return found
    }

    /// Writes a mapped credit memo as an unposted purchase credit memo, or refuses it when the connection has
    /// purchase credit memos off.
    func createDraftCreditMemo(_ invoice: MappedInvoice) async throws -> ERPDocumentRef {
        guard settings.purchaseCreditMemos else {
            throw ConnectorError(
                .creditMemoUnsupported,
                "Business Central purchase credit memos are off for this connection (erp.businessCentral.purchaseCreditMemos); credit memo \(invoice.vendorInvoiceNumber) is not written as an invoice"
            )
        }
        let company = try await companyId()
        let body = Self.creditMemo(for: invoice)
        let created = try await client.createPurchaseCreditMemo(companyId: company, body)
        return ERPDocumentRef(system: system, id: created.id, number: created.number, status: created.status)
    }

    /// The deep-insert body of a credit memo: the invoice body's lines (positive amounts, dimensions nested).
    package static func creditMemo(for invoice: MappedInvoice) -> BCPurchaseCreditMemoCreate {
        let lines = document(for: invoice, nestDimensions: true).purchaseInvoiceLines
        return BCPurchaseCreditMemoCreate(
            vendorNumber: invoice.vendorNumber,
            vendorCreditMemoNumber: invoice.vendorInvoiceNumber,
            creditMemoDate: invoice.invoiceDate.description,
            dueDate: invoice.dueDate?.description,
            postingDate: invoice.postingDate?.description,
            currencyCode: invoice.currencyCode,
            purchaseCreditMemoLines: lines
        )
    }
}
