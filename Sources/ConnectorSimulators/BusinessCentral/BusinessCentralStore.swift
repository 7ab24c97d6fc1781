import Foundation
import Synchronization

/// The data of a simulated Business Central environment. Every write runs under one lock, so a deep insert is
/// validated completely before anything is stored (all or nothing).
package final class BusinessCentralStore: Sendable {
    private struct State {
        var companies: [BCCompanyData] = []
        var rowVersion = 1
    }

    private let state = Mutex(State())
    let clock: SimulatorClock
    /// Told about every create, update and delete of a webhook-capable entity (the webhook subscriptions).
    private let observer = Mutex<(any BCChangeObserver)?>(nil)

    package init(clock: SimulatorClock) { self.clock = clock }

    /// Sets the one observer told about changes (``BCWebhooks``); `seed` never reports changes.
    func setObserver(_ observer: (any BCChangeObserver)?) {
        self.observer.withLock { $0 = observer }
    }

    private func report(_ changes: [BCEntityChange]) {
        guard !changes.isEmpty, let observer = observer.withLock({ $0 }) else { return }
        observer.record(changes)
    }

    private func invoiceChange(_ companyId: String, _ invoice: BCPurchaseInvoice, _ type: BCChangeType)
        -> BCEntityChange
    {
        BCEntityChange(
            companyId: companyId.lowercased(), entitySet: "purchaseInvoices", entityId: invoice.id, changeType: type,
            lastModified: invoice.lastModified)
    }

    // MARK: Seeding and inspection (package API)

    /// Adds a company with its master data and documents (replacing one with the same id).
    package func seed(_ company: BCCompanyData) {
        state.withLock { state in
            state.companies.removeAll { $0.company.id == company.company.id }
            state.companies.append(company)
        }
    }

    /// A copy of one company's data.
    package func company(id: String) -> BCCompanyData? {
        state.withLock { $0.companies.first { $0.company.id == id.lowercased() } }
    }

    /// Copies of all companies' data.
    package var companies: [BCCompanyData] { state.withLock { $0.companies } }

    /// Every purchase invoice of every company, with the company id.
    package var allPurchaseInvoices: [(companyId: String, invoice: BCPurchaseInvoice)] {
        state.withLock { state in
            state.companies.flatMap { company in company.purchaseInvoices.map { (company.company.id, $0) } }
        }
    }

    /// Changes one company's data in place (e.g. block a vendor mid-test). Changed rows should bump their
    /// `lastModified`; the store bumps nothing by itself here. Vendors, accounts, dimensions and purchase invoices
    /// (with their lines) that were added, changed or removed are reported to webhook subscriptions.
    package func modifyCompany(id: String, _ change: (inout BCCompanyData) -> Void) {
        let watching = observer.withLock { $0 }?.isWatching(companyId: id.lowercased()) ?? false
        let snapshots: (before: BCCompanyData, after: BCCompanyData)? = state.withLock { state in
            guard let index = state.companies.firstIndex(where: { $0.company.id == id.lowercased() }) else {
                return nil
            }
            let before = state.companies[index]
            change(&state.companies[index])
            return (before, state.companies[index])
        }
        guard watching, let snapshots else { return }
        report(BCEntityChange.diff(before: snapshots.before, after: snapshots.after, now: clock.now()))
    }

    /// Creates a purchase invoice exactly as `POST companies({id})/purchaseInvoices` would (same validation,
    /// deep insert, number series), e.g. to simulate a clerk keying an invoice by hand during a test.
    /// - Parameter body: the JSON body a client would send.
    /// - Throws: ``BCError`` with the status and code the API would answer.
    @discardableResult
    package func createPurchaseInvoice(companyId: String, body: SimJSON) throws(BCError) -> BCPurchaseInvoice {
        guard let object = body.objectValue else {
            throw BCError.badBody("Invalid Request Body: expected a JSON object.")
        }
        return try createInvoice(companyId: companyId, body: object)
    }

    /// Posts a draft purchase invoice exactly as `Microsoft.NAV.post` would.
    /// - Throws: ``BCError`` with the status and code the API would answer.
    package func postPurchaseInvoice(companyId: String, id: String) throws(BCError) {
        try postInvoice(companyId: companyId, id: id)
    }

    /// Creates or changes the vendor with this `number` (as a clerk would in the BC client), bumping its
    /// `lastModifiedDateTime` to the simulator clock and its etag; webhook subscriptions are notified.
    /// - Returns: the stored vendor and whether it was created.
    @discardableResult
    package func upsertVendor(companyId: String, number: String, displayName: String, blocked: String? = nil)
        throws(BCError) -> (vendor: BCVendor, created: Bool)
    {
        let now = clock.now()
        let result = try write(companyId: companyId) { company, nextVersion throws(BCError) -> (BCVendor, Bool) in
            let index = company.vendors.firstIndex { $0.number == number }
            var vendor =
                index.map { company.vendors[$0] }
                ?? BCVendor(id: Self.newId(), number: number, displayName: displayName, lastModified: now)
            vendor.displayName = displayName
            if let blocked { vendor.blocked = blocked }
            vendor.lastModified = now
            vendor.rowVersion = nextVersion()
            if let index { company.vendors[index] = vendor } else { company.vendors.append(vendor) }
            return (vendor, index == nil)
        }
        report([
            BCEntityChange(
                companyId: companyId.lowercased(), entitySet: "vendors", entityId: result.0.id,
                changeType: result.1 ? .created : .updated, lastModified: now)
        ])
        return result
    }

    /// Deletes the vendor with this `number`; webhook subscriptions are notified.
    /// - Returns: the deleted vendor, or nil when there is none with this number.
    @discardableResult
    package func deleteVendor(companyId: String, number: String) throws(BCError) -> BCVendor? {
        let now = clock.now()
        let removed = try write(companyId: companyId) { company, _ throws(BCError) -> BCVendor? in
            guard let index = company.vendors.firstIndex(where: { $0.number == number }) else { return nil }
            return company.vendors.remove(at: index)
        }
        if let removed {
            report([
                BCEntityChange(
                    companyId: companyId.lowercased(), entitySet: "vendors", entityId: removed.id, changeType: .deleted,
                    lastModified: now)
            ])
        }
        return removed
    }

    /// Creates or changes the G/L account with this `number` (category `Expense` when new), bumping its
    /// `lastModifiedDateTime` and etag; webhook subscriptions are notified.
    /// - Returns: the stored account and whether it was created.
    @discardableResult
    package func upsertAccount(companyId: String, number: String, displayName: String, blocked: Bool? = nil)
        throws(BCError) -> (account: BCAccount, created: Bool)
    {
        let now = clock.now()
        let result = try write(companyId: companyId) { company, nextVersion throws(BCError) -> (BCAccount, Bool) in
            let index = company.accounts.firstIndex { $0.number == number }
            var account =
                index.map { company.accounts[$0] }
                ?? BCAccount(
                    id: Self.newId(), number: number, displayName: displayName, category: "Expense", lastModified: now)
            account.displayName = displayName
            if let blocked { account.blocked = blocked }
            account.lastModified = now
            account.rowVersion = nextVersion()
            if let index { company.accounts[index] = account } else { company.accounts.append(account) }
            return (account, index == nil)
        }
        report([
            BCEntityChange(
                companyId: companyId.lowercased(), entitySet: "accounts", entityId: result.0.id,
                changeType: result.1 ? .created : .updated, lastModified: now)
        ])
        return result
    }

    /// Deletes the G/L account with this `number`; webhook subscriptions are notified.
    /// - Returns: the deleted account, or nil when there is none with this number.
    @discardableResult
    package func deleteAccount(companyId: String, number: String) throws(BCError) -> BCAccount? {
        let now = clock.now()
        let removed = try write(companyId: companyId) { company, _ throws(BCError) -> BCAccount? in
            guard let index = company.accounts.firstIndex(where: { $0.number == number }) else { return nil }
            return company.accounts.remove(at: index)
        }
        if let removed {
            report([
                BCEntityChange(
                    companyId: companyId.lowercased(), entitySet: "accounts", entityId: removed.id,
                    changeType: .deleted, lastModified: now)
            ])
        }
        return removed
    }

    /// Resolves a company id or name (the `?company=` query form accepts either) to the company's id.
    func resolveCompany(_ idOrName: String) -> String? {
        state.withLock { state in
            state.companies.first { $0.company.id == idOrName.lowercased() || $0.company.name == idOrName }?.company.id
        }
    }

    // MARK: Reads

    func read<T>(companyId: String, _ body: (BCCompanyData) throws(BCError) -> T) throws(BCError) -> T {
        let company = state.withLock { state in state.companies.first { $0.company.id == companyId.lowercased() } }
        guard let company else {
            throw BCError(
                404, "Internal_CompanyNotFound",
                "Cannot process the request because the company with id '\(companyId)' cannot be found.")
        }
        return try body(company)
    }

    // MARK: Writes

    func write<T>(
        companyId: String,
        _ body: (inout BCCompanyData, _ nextVersion: () -> Int) throws(BCError) -> T
    ) throws(BCError) -> T {
        let result: Result<T, BCError> = state.withLock { state in
            guard let index = state.companies.firstIndex(where: { $0.company.id == companyId.lowercased() }) else {
                return .failure(
                    BCError(
                        404, "Internal_CompanyNotFound",
                        "Cannot process the request because the company with id '\(companyId)' cannot be found."))
            }
            var company = state.companies[index]
            var version = state.rowVersion
            do throws(BCError) {
                let value = try body(&company) {
                    version += 1
                    return version
                }
                state.companies[index] = company
                state.rowVersion = version
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    static func newId() -> String { UUID().uuidString.lowercased() }

    private static func invoiceNotFound(_ id: String) -> BCError {
        BCError(
            404, "Internal_RecordNotFound",
            "The Purchase Header does not exist. Identification fields and values: Document Type='Invoice',Id='\(id)'")
    }

    /// `If-Match` must be `*` or the current etag.
    static func checkIfMatch(_ ifMatch: String?, etag: String) throws(BCError) {
        guard let ifMatch, !ifMatch.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw BCError(
                400, "BadRequest_InvalidToken",
                "Could not validate the client concurrency token required by the service. Please provide a valid token in the client request."
            )
        }
        let candidates = ifMatch.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if candidates.contains("*") || candidates.contains(etag) { return }
        throw BCError(409, "Request_EntityChanged", "Another user has already changed the record.")
    }

    /// POST purchaseInvoices, with deep insert of `purchaseInvoiceLines` (and their `dimensionSetLines`) and
    /// header `dimensionSetLines`.
    func createInvoice(companyId: String, body: SimJSONObject) throws(BCError) -> BCPurchaseInvoice {
        let now = clock.now()
        let invoice = try write(companyId: companyId) { company, nextVersion throws(BCError) in
            try BCPurchaseInvoice.createRules.validate(body)
            let today = Timestamps.day(now)
            var invoice = BCPurchaseInvoice(
                id: Self.newId(), number: String(company.nextInvoiceNumber), invoiceDate: today, postingDate: today,
                dueDate: today, vendorId: emptyGUID, vendorNumber: "", vendorName: "", lastModified: now)
            try company.applyHeader(body, to: &invoice, isCreate: true)
            if body["invoiceDate"] == nil, body["dueDate"] == nil {
                let days = company.vendor(id: invoice.vendorId)?.paymentDays ?? 30
                invoice.dueDate = Timestamps.day(now.addingTimeInterval(TimeInterval(days * 86_400)))
            }
            if let dims = body["dimensionSetLines"]?.arrayValue {
                invoice.dimensionSetLines = try company.dimensionSetLines(
                    from: dims, parentId: invoice.id, parentType: "Purchase Invoice")
                for line in invoice.dimensionSetLines {
                    if line.code == company.shortcutDimensionCodes.0 { invoice.shortcutDimension1Code = line.valueCode }
                    if line.code == company.shortcutDimensionCodes.1 { invoice.shortcutDimension2Code = line.valueCode }
                }
            }
            for entry in body["purchaseInvoiceLines"]?.arrayValue ?? [] {
                guard let object = entry.objectValue else {
                    throw BCError.badBody("Invalid Request Body: each purchaseInvoiceLine must be a JSON object.")
                }
                var line = try company.line(from: object, for: invoice, id: Self.newId())
                line.rowVersion = nextVersion()
                invoice.lines.append(line)
            }
            invoice.allocateInvoiceDiscount()
            invoice.rowVersion = nextVersion()
            company.nextInvoiceNumber += 1
            company.purchaseInvoices.append(invoice)
            return invoice
        }
        report([invoiceChange(companyId, invoice, .created)])
        return invoice
    }

    /// PATCH purchaseInvoices({id}).
    func patchInvoice(companyId: String, id: String, ifMatch: String?, body: SimJSONObject) throws(BCError)
        -> BCPurchaseInvoice
    {
        let now = clock.now()
        let invoice = try write(companyId: companyId) { company, nextVersion throws(BCError) in
            guard let index = company.invoiceIndex(id: id) else { throw Self.invoiceNotFound(id) }
            var invoice = company.purchaseInvoices[index]
            try Self.checkIfMatch(ifMatch, etag: invoice.etag)
            for navigation in ["purchaseInvoiceLines", "dimensionSetLines"] where body[navigation] != nil {
                throw BCError.badBody("Deep update is not supported: '\(navigation)' cannot be changed with PATCH.")
            }
            try BCPurchaseInvoice.patchRules.validate(body)
            guard invoice.status == "Draft" else {
                // UNCONFIRMED: the error code for changing a posted invoice is not documented.
                throw BCError(
                    400, "Application_DialogException",
                    "Purchase invoice \(invoice.number) has status \(invoice.status) and can no longer be changed.")
            }
            try company.applyHeader(body, to: &invoice, isCreate: false)
            Self.reallocate(&invoice, nextVersion: nextVersion)
            invoice.lastModified = now
            invoice.rowVersion = nextVersion()
            company.purchaseInvoices[index] = invoice
            return invoice
        }
        report([invoiceChange(companyId, invoice, .updated)])
        return invoice
    }

    /// DELETE purchaseInvoices({id}).
    func deleteInvoice(companyId: String, id: String, ifMatch: String?) throws(BCError) {
        var deleted = try write(companyId: companyId) { company, _ throws(BCError) in
            guard let index = company.invoiceIndex(id: id) else { throw Self.invoiceNotFound(id) }
            let invoice = company.purchaseInvoices[index]
            try Self.checkIfMatch(ifMatch, etag: invoice.etag)
            guard invoice.status == "Draft" else {
                // UNCONFIRMED: the error code for deleting a posted invoice is not documented.
                throw BCError(
                    400, "Application_DialogException",
                    "Purchase invoice \(invoice.number) has status \(invoice.status) and cannot be deleted.")
            }
            company.purchaseInvoices.remove(at: index)
            return invoice
        }
        deleted.lastModified = clock.now()
        report([invoiceChange(companyId, deleted, .deleted)])
    }

    /// POST purchaseInvoices({id})/purchaseInvoiceLines.
    func addLine(companyId: String, invoiceId: String, body: SimJSONObject) throws(BCError) -> BCPurchaseInvoiceLine {
        let now = clock.now()
        let (invoice, line) = try write(companyId: companyId) { company, nextVersion throws(BCError) in
            guard let index = company.invoiceIndex(id: invoiceId) else { throw Self.invoiceNotFound(invoiceId) }
            var invoice = company.purchaseInvoices[index]
            guard invoice.status == "Draft" else {
                throw BCError(
                    400, "Application_DialogException",
                    "Purchase invoice \(invoice.number) has status \(invoice.status); lines can no longer be added.")
            }
            var line = try company.line(from: body, for: invoice, id: Self.newId())
            line.rowVersion = nextVersion()
            invoice.lines.append(line)
            invoice.lines.sort { $0.sequence < $1.sequence }
            Self.reallocate(&invoice, nextVersion: nextVersion)
            invoice.lastModified = now
            invoice.rowVersion = nextVersion()
            company.purchaseInvoices[index] = invoice
            return (invoice, invoice.lines.first { $0.id == line.id } ?? line)
        }
        // A line change notifies subscribers of the header (reference §1.8).
        report([invoiceChange(companyId, invoice, .updated)])
        return line
    }

    /// Re-spreads the invoice discount; lines whose share changed get a new row version (and so a new etag).
    private static func reallocate(_ invoice: inout BCPurchaseInvoice, nextVersion: () -> Int) {
        let before = Dictionary(uniqueKeysWithValues: invoice.lines.map { ($0.id, $0.invoiceDiscountAllocation) })
        invoice.allocateInvoiceDiscount()
        for index in invoice.lines.indices
        where before[invoice.lines[index].id] != invoice.lines[index].invoiceDiscountAllocation {
            invoice.lines[index].rowVersion = nextVersion()
        }
    }

    /// POST purchaseInvoices({id})/Microsoft.NAV.post: checks like BC's posting routine, then status `Open`,
    /// a number from the posted-invoice series, and updated vendor balance and account net change.
    func postInvoice(companyId: String, id: String) throws(BCError) {
        let now = clock.now()
        let posted = try write(companyId: companyId) { company, nextVersion throws(BCError) in
            guard let index = company.invoiceIndex(id: id) else { throw Self.invoiceNotFound(id) }
            var invoice = company.purchaseInvoices[index]
            guard invoice.status == "Draft" else {
                // UNCONFIRMED wording.
                throw BCError(
                    400, "Application_DialogException",
                    "Purchase invoice \(invoice.number) has already been posted (status \(invoice.status)).")
            }
            guard let vendor = company.vendor(id: invoice.vendorId) else {
                throw BCError(
                    400, "Application_DialogException", "Buy-from Vendor No. must have a value in Purchase Header.")
            }
            guard vendor.blocked != "All" else {
                throw BCError(
                    400, "Application_DialogException",
                    "You cannot post this type of document when Vendor \(vendor.number) is blocked with type All")
            }
            guard !invoice.vendorInvoiceNumber.isEmpty else {
                throw BCError(
                    400, "Application_DialogException",
                    "You need to enter the document number of the document from the vendor in the Vendor Invoice No. field, so that this document stays linked to the original."
                )
            }
            guard invoice.lines.contains(where: { $0.lineType != "Comment" && $0.amountExcludingTax != 0 }) else {
                throw BCError(400, "Application_DialogException", "There is nothing to post.")
            }
            let duplicate = company.purchaseInvoices.contains {
                $0.id != invoice.id && $0.status != "Draft" && $0.vendorId == invoice.vendorId
                    && $0.vendorInvoiceNumber == invoice.vendorInvoiceNumber
            }
            guard !duplicate else {
                throw BCError(
                    400, "Application_DialogException",
                    "Purchase Invoice \(invoice.vendorInvoiceNumber) already exists for this vendor.")
            }
            for line in invoice.lines where line.lineType == "Account" {
                if let accountIndex = company.accounts.firstIndex(where: { $0.id == line.accountId }) {
                    let account = company.accounts[accountIndex]
                    guard !account.blocked, account.accountType == "Posting" else {
                        throw BCError(
                            400, "Application_FieldValidationException",
                            "Blocked must be equal to 'No'  in G/L Account: No.=\(account.number). Current value is 'Yes'."
                        )
                    }
                    company.accounts[accountIndex].netChange += line.netAmount
                }
            }
            if let vendorIndex = company.vendors.firstIndex(where: { $0.id == vendor.id }) {
                company.vendors[vendorIndex].balance += invoice.totalAmountIncludingTax
            }
            invoice.status = "Open"
            invoice.number = String(company.nextPostedNumber)
            company.nextPostedNumber += 1
            company.openLedgerEntry(for: invoice, postingDate: Timestamps.day(now))
            invoice.lastModified = now
            invoice.rowVersion = nextVersion()
            company.purchaseInvoices[index] = invoice
            return invoice
        }
        // The vendor balance and account net change are FlowFields: they change no record, so no notification.
        report([invoiceChange(companyId, posted, .updated)])
    }
}

// MARK: Payments (simulator control)

extension BusinessCentralStore {
    /// Pays a purchase invoice in full, as a payment journal applied to it would: a draft is posted first (a
    /// posted-series number, status `Open`), then the status becomes `Paid`; `lastModifiedDateTime` moves and
    /// webhook subscribers hear of the change. The id stays the same (it survives posting, reference §1.3).
    /// - Returns: the paid invoice.
    /// - Throws: ``BCError`` 404 when there is no such invoice, 400 when it is cancelled.
    package func markPaid(companyId: String, id: String, amount: Decimal? = nil) throws(BCError) -> BCPurchaseInvoice {
        let now = clock.now()
        let paid = try write(companyId: companyId) { company, nextVersion throws(BCError) in
            guard let index = company.invoiceIndex(id: id) else { throw Self.invoiceNotFound(id) }
            var invoice = company.purchaseInvoices[index]
            guard invoice.status == "Draft" || invoice.status == "Open" || invoice.status == "Paid" else {
                throw BCError(
                    400, "Application_DialogException",
                    "Purchase invoice \(invoice.number) has status \(invoice.status) and cannot be paid.")
            }
            if invoice.status == "Paid" {
                // Paid already: nothing more is applied; the record is touched, as it always was here, so a feed
                // reading by lastModifiedDateTime shows it again (the demo's second run relies on it).
                invoice.lastModified = now
                invoice.rowVersion = nextVersion()
                company.purchaseInvoices[index] = invoice
                return invoice
            }
            let day = Timestamps.day(now)
            if invoice.status == "Draft" {
                invoice.number = String(company.nextPostedNumber)
                company.nextPostedNumber += 1
                invoice.status = "Open"
                company.openLedgerEntry(for: invoice, postingDate: day)
            } else if !company.vendorLedgerEntries.contains(where: { $0.documentNumber == invoice.number }) {
                company.openLedgerEntry(for: invoice, postingDate: day)
            }
            let remaining = try company.applyPayment(invoiceNumber: invoice.number, amount: amount, postingDate: day)
            if remaining == 0 {
                // Paid in full: the invoice's status follows its closed ledger entry. A partial payment changes the
                // ledger only; the invoice stays `Open` and unmodified.
                invoice.status = "Paid"
                invoice.lastModified = now
                invoice.rowVersion = nextVersion()
            }
            company.purchaseInvoices[index] = invoice
            return invoice
        }
        report([invoiceChange(companyId, paid, .updated)])
        return paid
    }
}
