import ConnectorCore
import ConnectorSecurity
import Foundation

/// Writes records into the procurement system through a `ProcurementSink`, remembering a digest of what it sent
/// per record (`pushed/<kind>/<key>`), so a record whose content is unchanged is not sent again and a replay
/// changes nothing. The digest is stored only after the sink accepted the record.
///
/// `force` sends every record whatever its digest (a full sync someone asked for: it realigns a procurement system
/// that lost or changed records behind the connector's back; each send is an idempotent upsert).
package struct ProcurementPush: Sendable {
    package let sink: any ProcurementSink
    package let store: any StateStore
    package let keys: StateKeys
    package let force: Bool

    package init(sink: any ProcurementSink, store: any StateStore, keys: StateKeys, force: Bool = false) {
        self.sink = sink
        self.store = store
        self.keys = keys
        self.force = force
    }

    /// What one batch of pushes did.
    package struct Counts: Sendable, Hashable {
        package var sent = 0
        package var unchanged = 0
        /// Suppliers sent without their parent, which was not in the procurement system yet (linked later).
        package var awaitingParent = 0
        /// Suppliers sent again with their parent once it was there.
        package var linkedToParent = 0
        package init() {}
        package static func + (lhs: Counts, rhs: Counts) -> Counts {
            var sum = lhs
            sum.sent += rhs.sent
            sum.unchanged += rhs.unchanged
            sum.awaitingParent += rhs.awaitingParent
            sum.linkedToParent += rhs.linkedToParent
            return sum
        }
    }

    private func key(_ kind: String, _ id: String) -> String { keys.key("pushed", kind, id) }

    /// The digest of a record as the sink would send it now.
    package func digest(_ content: some Encodable) throws -> String {
        ContentDigest.sha256Hex(Data(sink.revision.utf8) + Data([0]) + (try JSONCoding.encode(content)))
    }

    /// Sends the record unless the same content was sent before; returns whether it was sent.
    @discardableResult
    package func push(
        _ kind: String, id: String, content: some Encodable, counts: inout Counts, send: () async throws -> Void
    ) async throws -> Bool {
        let digest = try digest(content)
        if !force, let stored = try await store.get(key(kind, id), as: String.self), stored.value == digest {
            counts.unchanged += 1
            return false
        }
        try await send()
        try await store.put(key(kind, id), json: digest)
        counts.sent += 1
        return true
    }

    /// The digest stored for a record (what was last sent, or what both sides were last seen to agree on).
    package func storedDigest(_ kind: String, id: String) async throws -> String? {
        try await store.get(key(kind, id), as: String.self)?.value
    }

    /// Records that the procurement system holds this content (a record read from it and written into the ERP), so
    /// the ERP's copy coming back is not sent again.
    package func remember(_ kind: String, id: String, digest: String) async throws {
        try await store.put(key(kind, id), json: digest)
    }

    /// Whether a record of this kind was ever sent.
    package func wasPushed(_ kind: String, id: String) async throws -> Bool {
        try await store.get(key(kind, id), as: String.self) != nil
    }

    // MARK: Master data

    /// A vendor as it is compared: without the ERP's change stamp and internal id, which JAGGAER never sees.
    /// Empty texts count as absent, as the supplier body leaves them out, so a supplier read back from the
    /// procurement system compares equal to the vendor that was sent.
    static func content(_ vendor: Vendor) -> Vendor {
        var copy = vendor
        copy.lastModified = nil
        copy.erpId = nil
        func text(_ value: String?) -> String? { value.flatMap { $0.isEmpty ? nil : $0 } }
        copy.currencyCode = text(vendor.currencyCode)
        copy.taxRegistrationNumber = text(vendor.taxRegistrationNumber)
        copy.paymentTermsCode = text(vendor.paymentTermsCode)
        copy.address = vendor.address?.nonEmpty.map { address in
            var trimmed = address
            trimmed.lines = address.lines.filter { !$0.isEmpty }
            trimmed.city = text(address.city)
            trimmed.state = text(address.state)
            trimmed.postalCode = text(address.postalCode)
            trimmed.country = text(address.country)
            return trimmed
        }
        return copy
    }

    /// The vendor with what the ERP's vendor model lacks taken from the supplier last read from the procurement
    /// system (kept by the JAGGAER → ERP pull): the address and payment terms when the ERP gives none, and a
    /// payment hold the ERP cannot express. Without a kept copy (the vendor was born in the ERP) it is unchanged.
    package func merged(_ vendor: Vendor) async throws -> Vendor {
        guard let copy = try await store.get(keys.key("pulled", "suppliers", vendor.number), as: Vendor.self)?.value
        else { return vendor }
        var merged = vendor
        if vendor.address?.nonEmpty == nil { merged.address = copy.address }
        if vendor.paymentTermsCode?.isEmpty ?? true { merged.paymentTermsCode = copy.paymentTermsCode }
        if vendor.blocked == .none, copy.blocked == .payment { merged.blocked = .payment }
        return merged
    }

    package func suppliers(_ vendors: [Vendor], counts: inout Counts) async throws {
        guard sink.sendsSupplierHierarchy else {
            for original in vendors {
                let vendor = try await merged(original)
                try await push("suppliers", id: vendor.number, content: Self.content(vendor), counts: &counts) {
                    try await sink.upsertSupplier(vendor)
                }
            }
            return
        }
        // A hierarchy: parents go first. A child whose parent is not in the procurement system yet (not in this
        // batch, not sent before) is sent without the link, so it exists for invoices, and kept in
        // `awaiting-parent/suppliers/<number>`; it is sent again with the link as soon as its parent is there.
        for original in Self.parentsFirst(vendors) {
            let vendor = try await merged(original)
            let waitingKey = keys.key("awaiting-parent", "suppliers", vendor.number)
            if let parent = vendor.parentNumber, !parent.isEmpty, parent != vendor.number,
                !(try await wasPushed("suppliers", id: parent))
            {
                var unlinked = vendor
                unlinked.parentNumber = nil
                try await push("suppliers", id: vendor.number, content: Self.content(unlinked), counts: &counts) {
                    try await sink.upsertSupplier(unlinked)
                }
                _ = try await store.put(waitingKey, json: original)
                counts.awaitingParent += 1
                continue
            }
            try await push("suppliers", id: vendor.number, content: Self.content(vendor), counts: &counts) {
                try await sink.upsertSupplier(vendor)
            }
            _ = try await store.delete(waitingKey)
        }
        try await linkWaitingChildren(counts: &counts)
    }

    /// Sends again, with the link, every supplier that was waiting for a parent which is now in the procurement
    /// system.
    package func linkWaitingChildren(counts: inout Counts) async throws {
        guard sink.sendsSupplierHierarchy else { return }
        for entry in try await store.scanAll(prefix: keys.prefix("awaiting-parent", "suppliers")) {
            guard let waiting = try? JSONCoding.decode(Vendor.self, from: entry.value.data) else {
                _ = try await store.delete(entry.key)
                continue
            }
            guard let parent = waiting.parentNumber, try await wasPushed("suppliers", id: parent) else { continue }
            let vendor = try await merged(waiting)
            try await push("suppliers", id: vendor.number, content: Self.content(vendor), counts: &counts) {
                try await sink.upsertSupplier(vendor)
            }
            _ = try await store.delete(entry.key)
            counts.linkedToParent += 1
        }
    }

    /// Suppliers still waiting for their parent.
    package func waitingForParent() async throws -> Int {
        try await store.scanAll(prefix: keys.prefix("awaiting-parent", "suppliers")).count
    }

    /// The vendors ordered so that each comes after the parent it names, where that parent is among them (stable
    /// otherwise; a cycle is broken where it is found).
    static func parentsFirst(_ vendors: [Vendor]) -> [Vendor] {
        let byNumber = Dictionary(vendors.map { ($0.number, $0) }, uniquingKeysWith: { _, last in last })
        var placed: Set<String> = []
        var visiting: Set<String> = []
        var ordered: [Vendor] = []
        func place(_ vendor: Vendor) {
            guard !placed.contains(vendor.number), !visiting.contains(vendor.number) else { return }
            visiting.insert(vendor.number)
            if let parent = vendor.parentNumber, let parentVendor = byNumber[parent] { place(parentVendor) }
            visiting.remove(vendor.number)
            placed.insert(vendor.number)
            ordered.append(byNumber[vendor.number] ?? vendor)
        }
        for vendor in vendors { place(vendor) }
        return ordered
    }

    /// Vendors gone from the ERP stay in JAGGAER as inactive suppliers (old documents keep pointing at them).
    package func deactivateSuppliers(_ vendors: [Vendor], counts: inout Counts) async throws {
        var inactive: [Vendor] = []
        for var vendor in vendors {
            guard try await wasPushed("suppliers", id: vendor.number) else { continue }
            vendor.blocked = .all
            inactive.append(vendor)
        }
        try await suppliers(inactive, counts: &counts)
    }

    /// Posting accounts become active coding values of the account segment; blocked or no longer postable accounts
    /// that were pushed before become inactive; headings and totals are never pushed.
    package func accounts(_ accounts: [GLAccount], segment: String, removed: Bool = false, counts: inout Counts)
        async throws
    {
        for account in accounts {
            let active = !removed && account.postable && !account.blocked
            let value = CodingValue(
                kind: .account, segment: segment, code: account.number, name: account.name, active: active)
            let id = "\(segment)/\(account.number)"
            if !active {
                guard try await wasPushed("coding", id: id) else { continue }
            }
            try await push("coding", id: id, content: value, counts: &counts) {
                try await sink.upsertCodingValue(value)
            }
        }
    }

    /// Dimension values become coding values of the JAGGAER segment the mapping rules tie to their dimension (the
    /// dimension code itself when no rule names it); values gone from the ERP become inactive.
    package func dimensions(
        _ dimensions: [ERPDimension], previous: [ERPDimension], rules: [SegmentDimensionRule], counts: inout Counts
    ) async throws {
        func segment(_ dimension: String) -> String {
            rules.first { $0.dimension.caseInsensitiveCompare(dimension) == .orderedSame }?.segment ?? dimension
        }
        var current: Set<String> = []
        for dimension in dimensions {
            for value in dimension.values {
                let coding = CodingValue(
                    kind: .dimensionValue, segment: segment(dimension.code), code: value.code, name: value.name,
                    active: !value.blocked)
                current.insert("\(coding.segment)/\(coding.code)")
                try await push("coding", id: "\(coding.segment)/\(coding.code)", content: coding, counts: &counts) {
                    try await sink.upsertCodingValue(coding)
                }
            }
        }
        for dimension in previous {
            for value in dimension.values where !current.contains("\(segment(dimension.code))/\(value.code)") {
                let coding = CodingValue(
                    kind: .dimensionValue, segment: segment(dimension.code), code: value.code, name: value.name,
                    active: false)
                let id = "\(coding.segment)/\(coding.code)"
                guard try await wasPushed("coding", id: id) else { continue }
                try await push("coding", id: id, content: coding, counts: &counts) {
                    try await sink.upsertCodingValue(coding)
                }
            }
        }
    }
}
