import FashionData
import Foundation

/// Example queries for the report: the top 5 candidates of the first queries of a draw, with images saved as
/// PNGs in RUN/eval/.
public enum RetrievalExamples {
    public static func make(draw: S100Draw, scores: [[Float]], ranks: QueryRanks, scorer: any RetrievalScorer, count: Int,
                            run: String) throws -> [RetrievalExample] {
        var out: [RetrievalExample] = []
        let file = scorer.file
        func savePNG(_ row: Int, _ name: String) throws -> String {
            let img = try RGBImage(width: file.imageSize, height: file.imageSize, pixels: file.image(row))
            try img.writePNG(to: run + "/" + EvalFiles.folder + "/" + name)
            return name
        }
        for (qi, q) in draw.queries.prefix(count).enumerated() {
            let s = scores[qi]
            let order = s.indices.sorted { s[$0] > s[$1] || (s[$0] == s[$1] && $0 < $1) }
            var top: [RetrievalExample.Candidate] = []
            for (k, ci) in order.prefix(5).enumerated() {
                let product = q.candidateProducts[ci], row = q.candidateRows[ci]
                switch draw.direction {
                case .tir:
                    let name = try savePNG(row, "ex_tir_\(qi)_\(k).png")
                    top.append(.init(product: product, score: Double(s[ci]), correct: ci == q.positiveIndex, image: name))
                case .itr:
                    top.append(.init(product: product, score: Double(s[ci]), correct: ci == q.positiveIndex,
                                     text: scorer.texts[row]))
                }
            }
            switch draw.direction {
            case .tir:
                out.append(RetrievalExample(direction: .tir, queryProduct: q.queryProduct, queryText: scorer.texts[q.queryRow],
                                            positiveRank: ranks.pessimistic[qi], top: top))
            case .itr:
                let name = try savePNG(q.queryRow, "ex_itr_\(qi)_query.png")
                out.append(RetrievalExample(direction: .itr, queryProduct: q.queryProduct, queryImage: name,
                                            positiveRank: ranks.pessimistic[qi], top: top))
            }
        }
        return out
    }
}
