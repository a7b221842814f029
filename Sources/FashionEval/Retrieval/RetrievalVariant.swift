// The protocol variant printed with every retrieval result (protocols.md §7): which scorer, which text, how
// texts shared by several products are treated, how many draws, and the re-ranking depth.
import Foundation

/// How candidates are scored.
public enum RetrievalScorerKind: String, Codable, Sendable, CaseIterable {
    /// A cross-encoder's P(match) for every (image, text) pair (MVLT's ITM; a dual encoder's ITM head).
    case itm
    /// Cosine of L2-normalised dual-encoder embeddings: every image and text embedded once, then dot products.
    case itc
    /// ALBEF's inference: ITC ranks everything, the ITC top-k are re-ranked by ITM, the rest keep ITC order below.
    case itcItm = "itc+itm"
}

/// What happens when another product has exactly the positive's text (`TextHash` of the protocol's text field).
/// Fashion-Gen gives every colour of a garment one description, so image→text then meets exact ties with
/// "negatives" that no scorer can tell from the positive.
public enum RetrievalTies: String, Codable, Sendable, CaseIterable {
    /// Today's behaviour: such products are ordinary negatives (pessimistic ties rank the positive below them).
    case keep
    /// sample-100: such products are never drawn as negatives. full: a candidate whose product has the positive's
    /// text counts as correct (the query's rank is that of the best-scored candidate sharing the positive's text),
    /// so it is never a negative either.
    case distinctText = "distinct-text"

    /// The default of a scorer: `keep` for ITM (the MVLT/Kaleido reproduction, unchanged numbers), `distinct-text`
    /// for ITC and ITC+ITM (SyncMask/FashionSAP style, where shared descriptions give exact ITC ties).
    public static func `default`(for scorer: RetrievalScorerKind) -> RetrievalTies {
        scorer == .itm ? .keep : .distinctText
    }
}

/// {scorer, text_field, ties, draws, k}: printed in every JSON result, stored in RUN/eval/retrieval.json and
/// RUN/eval/retrieval_full.json, shown in the report's retrieval table caption.
public struct RetrievalVariant: Codable, Equatable, Sendable {
    public var scorer: String
    public var textField: String
    public var ties: String
    /// sample-100: the number of seeded draws (each direction); full: 1 (the whole catalog, nothing drawn).
    public var draws: Int
    /// ITC candidates re-ranked by ITM (itc+itm only).
    public var k: Int?

    public init(scorer: RetrievalScorerKind, textField: TextField, ties: RetrievalTies, draws: Int, k: Int? = nil) {
        self.scorer = scorer.rawValue
        self.textField = textField.rawValue
        self.ties = ties.rawValue
        self.draws = draws
        self.k = scorer == .itcItm ? k : nil
    }

    enum CodingKeys: String, CodingKey { case scorer, textField = "text_field", ties, draws, k }

    /// Always every key (k as null when unused), for JSON lines built with JSONSerialization.
    public var jsonObject: [String: Any] {
        ["scorer": scorer, "text_field": textField, "ties": ties, "draws": draws, "k": k.map { $0 as Any } ?? NSNull()]
    }

    /// "scorer itc+itm (k 16) · text description · ties distinct-text · 5 draws".
    public var summary: String {
        let s = k.map { "scorer \(scorer) (k \($0))" } ?? "scorer \(scorer)"
        return "\(s) · text \(textField) · ties \(ties) · \(draws) draw\(draws == 1 ? "" : "s")"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(scorer, forKey: .scorer)
        try c.encode(textField, forKey: .textField)
        try c.encode(ties, forKey: .ties)
        try c.encode(draws, forKey: .draws)
        try c.encode(k, forKey: .k)  // null when unused: the variant always has its five keys
    }
}
