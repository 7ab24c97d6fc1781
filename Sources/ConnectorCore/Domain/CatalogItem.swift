import Foundation

/// A product the ERP released to a legal entity, as it goes on to the procurement system's catalog (F&O released
/// products into JAGGAER, where the tenant uses catalogs). Keyed in the procurement system by the ERP's item number.
package struct CatalogItem: Sendable, Codable, Hashable {
    /// The ERP's item number (F&O `ItemNumber`): the key the procurement system keeps the item under.
    package var itemNumber: String
    package var name: String
    package var description: String?
    /// The unit the item is bought in (F&O `PurchaseUnitSymbol`).
    package var unitOfMeasure: String?
    /// The default purchase price, where the ERP keeps one.
    package var unitPrice: Decimal?
    package var currencyCode: String?
    /// The procurement category, where the ERP gives one.
    package var category: String?

    package init(
        itemNumber: String, name: String, description: String? = nil, unitOfMeasure: String? = nil,
        unitPrice: Decimal? = nil, currencyCode: String? = nil, category: String? = nil
    ) {
        self.itemNumber = itemNumber
        self.name = name
        self.description = description
        self.unitOfMeasure = unitOfMeasure
        self.unitPrice = unitPrice
        self.currencyCode = currencyCode
        self.category = category
    }
}
