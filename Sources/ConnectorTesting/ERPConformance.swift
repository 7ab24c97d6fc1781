import ConnectorCore
import Foundation
import Testing

/// What the adapter conformance suite needs besides the connector: a way to arrange the ERP's data and faults
/// from outside the connector (each ERP's simulator offers it), so the suite can check what the ERP really holds.
package protocol ERPTestBackend: Sendable {
    /// A vendor the ERP accepts invoices for.
    func activeVendor() async throws -> String
    /// A G/L account that item lines may be coded to.
    func expenseAccount() async throws -> String
    /// Adds vendors directly in the ERP; returns their numbers.
    func addVendors(count: Int, prefix: String) async throws -> [String]
    /// Documents the ERP holds for a vendor and vendor invoice number, read directly from the ERP's data.
    func documentCount(vendor: String, vendorInvoiceNumber: String) async throws -> Int
    /// The next create commits, then the connection drops before the answer.
    func dropNextCreateAfterCommit() async throws
    /// Every read answers `status` with the ERP's own error body until `clearFaults`.
    func failReads(status: Int) async throws
    func clearFaults() async throws
    /// Moves the ERP's clock (and so its change stamps) forward.
    func advanceClock(seconds: Double) async throws
}

/// One behaviour for every ERP adapter, run on each ERP against its simulator: natural-key lookups that quotes,
/// unicode and over-long numbers can't break, atomic creates, an ambiguous create resolved without a second
/// document, master data paged past one page, change cursors, and each error status mapped to the right kind.
package enum ERPConformance {
    package typealias Factory = @Sendable () async throws -> any ERPConnector

    package static func run(_ make: Factory, backend: any ERPTestBackend) async throws {
        try await naturalKeyLookups(make, backend)
        try await atomicCreate(make, backend)
        try await ambiguousCreate(make, backend)
        try await pagingAndCursors(make, backend)
        try await errorKinds(make, backend)
    }

    static func invoice(vendor: String, number: String, account: String, amount: Decimal = 100) -> MappedInvoice {
        MappedInvoice(
            recordId: "conformance-\(number)", source: "conformance", sourceId: number, sourceUpdatedAt: nil,
            vendorNumber: vendor, vendorInvoiceNumber: number, invoiceDate: LocalDate(year: 2026, month: 11, day: 30)!,
            dueDate: LocalDate(year: 2026, month: 12, day: 30), postingDate: nil, currencyCode: nil,
            sourceCurrency: nil, headerDimensions: [],
            lines: [
                MappedLine(
                    kind: .item, sourceLineNumber: 1, description: "Conformance line", glAccount: account,
                    quantity: 2, unitCost: amount / 2, taxCode: nil, dimensions: [], poNumber: nil, poLineNumber: nil)
            ],
            expectedTotal: amount, poNumbers: [])
    }

    static func naturalKeyLookups(_ make: Factory, _ backend: any ERPTestBackend) async throws {
        let erp = try await make()
        let vendor = try await backend.activeVendor()
        let account = try await backend.expenseAccount()
        let suffix = UUID().uuidString.prefix(6)
        let quoted = "O'Brien-ü-'\(suffix)'"
        let created = try await erp.createDraftInvoice(invoice(vendor: vendor, number: quoted, account: account))
        let found = try await erp.findInvoices(vendorNumber: vendor, vendorInvoiceNumber: quoted)
        #expect(found.map(\.id) == [created.id], "a number with quotes and unicode is found exactly")
        #expect(try await erp.findInvoices(vendorNumber: vendor, vendorInvoiceNumber: "O'Brien-ü-").isEmpty)
        let injection = "x' or vendorInvoiceNumber ne '\(suffix)"
        #expect(
            try await erp.findInvoices(vendorNumber: vendor, vendorInvoiceNumber: injection).isEmpty,
            "a hostile number is one literal, never a filter")
        let long = String(repeating: "9", count: erp.constraints.maxVendorInvoiceNumberLength + 5)
        #expect(
            try await erp.findInvoices(vendorNumber: vendor, vendorInvoiceNumber: long).isEmpty,
            "a number longer than the ERP's field is simply not there")
        // The batch lookup (one request per page where the ERP can) answers exactly as the single lookups do.
        let keys = [quoted, "O'Brien-ü-", injection, long].map {
            InvoiceNaturalKey(vendorNumber: vendor, vendorInvoiceNumber: $0)
        }
        let batch = try await erp.lookUp(keys: keys, purchaseOrderNumbers: [])
        #expect(Set(batch.invoices.keys) == Set(keys), "every key asked is answered")
        #expect(batch.invoices[keys[0]]?.map(\.id) == [created.id])
        #expect(keys.dropFirst().allSatisfy { batch.invoices[$0] == [] }, "no other key finds anything")
    }

    static func atomicCreate(_ make: Factory, _ backend: any ERPTestBackend) async throws {
        let erp = try await make()
        let vendor = try await backend.activeVendor()
        let account = try await backend.expenseAccount()
        let number = "ATOMIC-\(UUID().uuidString.prefix(8))"
        _ = try await erp.createDraftInvoice(invoice(vendor: vendor, number: number, account: account))
        #expect(try await backend.documentCount(vendor: vendor, vendorInvoiceNumber: number) == 1)
        // A line the ERP refuses (an account it does not have) leaves nothing behind, not a header without lines.
        let refused = "REFUSED-\(UUID().uuidString.prefix(8))"
        do {
            _ = try await erp.createDraftInvoice(invoice(vendor: vendor, number: refused, account: "NO-SUCH-ACCT"))
            Issue.record("the ERP accepted a line coded to an account it does not have")
        } catch let error as ConnectorError {
            #expect(error.kind == .rejected, "a refused document is rejected, not retried: \(error)")
        }
        #expect(try await backend.documentCount(vendor: vendor, vendorInvoiceNumber: refused) == 0)
    }

    static func ambiguousCreate(_ make: Factory, _ backend: any ERPTestBackend) async throws {
        let erp = try await make()
        let vendor = try await backend.activeVendor()
        let account = try await backend.expenseAccount()
        let number = "AMBIGUOUS-\(UUID().uuidString.prefix(8))"
        try await backend.dropNextCreateAfterCommit()
        do {
            _ = try await erp.createDraftInvoice(invoice(vendor: vendor, number: number, account: account))
            Issue.record("a create whose answer was lost must not report success")
        } catch let error as ConnectorError {
            #expect(error.code == .ambiguousWrite, "a lost answer to a create is ambiguous: \(error)")
        }
        // Resolved by reading, never by writing again: the one committed document is found.
        let found = try await erp.findInvoices(vendorNumber: vendor, vendorInvoiceNumber: number)
        #expect(found.count == 1)
        #expect(try await backend.documentCount(vendor: vendor, vendorInvoiceNumber: number) == 1)
    }

    static func pagingAndCursors(_ make: Factory, _ backend: any ERPTestBackend) async throws {
        let erp = try await make()
        let before = try await erp.all(from: nil) { try await erp.vendors(after: $0, pageSize: $1) }.items
        let added = try await backend.addVendors(count: 1_050, prefix: "PG\(UUID().uuidString.prefix(4))")
        let (all, cursor) = try await erp.all(from: nil) { try await erp.vendors(after: $0, pageSize: $1) }
        #expect(all.count == before.count + added.count, "every vendor, past one page")
        #expect(Set(added).isSubset(of: Set(all.map(\.number))))
        #expect(Set(all.map(\.number)).count == all.count, "no vendor twice across pages")
        #expect(cursor != nil, "a read ends with a cursor to continue from")
        // Small pages: the adapter's own paging (server-driven or by skip) must still give every record once.
        let paged = try await erp.all(from: nil, pageSize: 7) { try await erp.vendors(after: $0, pageSize: $1) }
        #expect(Set(paged.items.map(\.number)) == Set(all.map(\.number)))
        try await backend.advanceClock(seconds: 60)
        let later = try await backend.addVendors(count: 3, prefix: "CUR\(UUID().uuidString.prefix(4))")
        let changed = try await erp.all(from: cursor) { try await erp.vendors(after: $0, pageSize: $1) }.items
        #expect(Set(later).isSubset(of: Set(changed.map(\.number))), "the cursor brings what changed after it")
        #expect(changed.count < all.count, "and not everything again")
    }

    static func errorKinds(_ make: Factory, _ backend: any ERPTestBackend) async throws {
        let erp = try await make()
        let expected: [(Int, [ConnectorError.Kind])] = [
            (401, [.configuration]), (403, [.configuration]), (404, [.rejected]), (400, [.rejected]),
            (429, [.temporary]), (503, [.temporary, .unavailable]),
        ]
        for (status, kinds) in expected {
            try await backend.failReads(status: status)
            do {
                _ = try await erp.vendors(after: nil, pageSize: 50)
                Issue.record("HTTP \(status) on every read still gave a result")
            } catch let error as ConnectorError {
                #expect(kinds.contains(error.kind), "HTTP \(status) must be \(kinds), was \(error.kind): \(error)")
            }
            try await backend.clearFaults()
        }
    }
}
