// One row of a Fashion-Gen HDF5 file (../shared/DATA.md §1). Readers and writers of the Fashion-Gen schema
// exchange rows as this value; the image is RGB, row-major, `imageSize × imageSize × 3` bytes.

public struct FashionGenRecord: Sendable, Equatable {
    public var image: [UInt8]
    public var name: String
    public var description: String
    public var concatDescription: String
    public var category: String
    public var subcategory: String
    public var brand: String
    public var composition: String
    public var department: String
    public var gender: String
    public var season: String
    public var pose: String
    public var productID: Int64
    public var msrpUSD: Double
    public var index: Int64
    public var index2: Int64

    public init(image: [UInt8], name: String, description: String, concatDescription: String? = nil,
                category: String, subcategory: String, brand: String = "", composition: String = "",
                department: String = "", gender: String = "", season: String = "", pose: String = "",
                productID: Int64, msrpUSD: Double = 0, index: Int64 = 0, index2: Int64 = 0) {
        self.image = image
        self.name = name
        self.description = description
        self.concatDescription = concatDescription ?? (name + " " + description)
        self.category = category
        self.subcategory = subcategory
        self.brand = brand
        self.composition = composition
        self.department = department
        self.gender = gender
        self.season = season
        self.pose = pose
        self.productID = productID
        self.msrpUSD = msrpUSD
        self.index = index
        self.index2 = index2
    }
}
