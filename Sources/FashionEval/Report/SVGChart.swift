// Inline SVG line charts for the report: axes, "nice" ticks, axis labels and a legend, no scripts.
import Foundation

struct SVGLineChart {
    struct Series {
        var name: String
        var points: [(x: Double, y: Double)]
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var series: [Series]
    var width = 520.0
    var height = 260.0

    static let palette = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"]

    func render() -> String {
        let ml = 62.0, mr = 14.0, mt = 34.0, mb = 42.0
        let pw = width - ml - mr, ph = height - mt - mb
        let all = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }
        var svg = "<svg viewBox=\"0 0 \(f(width)) \(f(height))\" class=\"chart\" role=\"img\" aria-label=\"\(HTML.escape(title))\">"
        svg += "<text x=\"\(f(ml))\" y=\"18\" class=\"ct\">\(HTML.escape(title))</text>"
        guard let xmin0 = all.map(\.x).min(), let xmax0 = all.map(\.x).max(),
              let ymin0 = all.map(\.y).min(), let ymax0 = all.map(\.y).max() else {
            return svg + "<text x=\"\(f(width / 2))\" y=\"\(f(height / 2))\" text-anchor=\"middle\" class=\"cl\">no data</text></svg>"
        }
        let xt = SVGLineChart.ticks(xmin0, xmax0 == xmin0 ? xmin0 + 1 : xmax0)
        let yPad = ymax0 == ymin0 ? max(abs(ymax0) * 0.1, 1e-3) : 0
        let yt = SVGLineChart.ticks(ymin0 - yPad, ymax0 + yPad)
        let x0 = xt.first!, x1 = xt.last!, y0 = yt.first!, y1 = yt.last!
        func px(_ x: Double) -> Double { ml + (x - x0) / (x1 - x0) * pw }
        func py(_ y: Double) -> Double { mt + ph - (y - y0) / (y1 - y0) * ph }
        // Grid and ticks.
        for y in yt {
            svg += "<line x1=\"\(f(ml))\" y1=\"\(f(py(y)))\" x2=\"\(f(ml + pw))\" y2=\"\(f(py(y)))\" class=\"grid\"/>"
            svg += "<text x=\"\(f(ml - 6))\" y=\"\(f(py(y) + 4))\" text-anchor=\"end\" class=\"tk\">\(SVGLineChart.label(y, step: yt[1] - yt[0]))</text>"
        }
        for x in xt {
            svg += "<line x1=\"\(f(px(x)))\" y1=\"\(f(mt + ph))\" x2=\"\(f(px(x)))\" y2=\"\(f(mt + ph + 4))\" class=\"axis\"/>"
            svg += "<text x=\"\(f(px(x)))\" y=\"\(f(mt + ph + 16))\" text-anchor=\"middle\" class=\"tk\">\(SVGLineChart.label(x, step: xt[1] - xt[0]))</text>"
        }
        svg += "<line x1=\"\(f(ml))\" y1=\"\(f(mt))\" x2=\"\(f(ml))\" y2=\"\(f(mt + ph))\" class=\"axis\"/>"
        svg += "<line x1=\"\(f(ml))\" y1=\"\(f(mt + ph))\" x2=\"\(f(ml + pw))\" y2=\"\(f(mt + ph))\" class=\"axis\"/>"
        svg += "<text x=\"\(f(ml + pw / 2))\" y=\"\(f(height - 6))\" text-anchor=\"middle\" class=\"cl\">\(HTML.escape(xLabel))</text>"
        svg += "<text transform=\"translate(14 \(f(mt + ph / 2))) rotate(-90)\" text-anchor=\"middle\" class=\"cl\">\(HTML.escape(yLabel))</text>"
        // Series and legend.
        var lx = width - mr
        for (i, s) in series.enumerated().reversed() {
            let colour = SVGLineChart.palette[i % SVGLineChart.palette.count]
            let pts = s.points.filter { $0.x.isFinite && $0.y.isFinite }
            if pts.count > 1 {
                svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.8\" stroke-linejoin=\"round\" points=\""
                    + pts.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ") + "\"/>"
            }
            if pts.count <= 40 {
                for p in pts { svg += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"2.6\" fill=\"\(colour)\"/>" }
            }
            let w = Double(s.name.count) * 6.6 + 22
            lx -= w
            svg += "<line x1=\"\(f(lx))\" y1=\"14\" x2=\"\(f(lx + 14))\" y2=\"14\" stroke=\"\(colour)\" stroke-width=\"2.5\"/>"
            svg += "<text x=\"\(f(lx + 18))\" y=\"18\" class=\"lg\">\(HTML.escape(s.name))</text>"
        }
        return svg + "</svg>"
    }

    /// About five round tick values covering [lo, hi]: steps of 1, 2 or 5 × 10^k.
    static func ticks(_ lo: Double, _ hi: Double) -> [Double] {
        let span = max(hi - lo, 1e-12)
        let raw = span / 5
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        let start = floor(lo / step) * step, end = ceil(hi / step) * step
        var out: [Double] = []
        var v = start
        while v <= end + step * 1e-6 { out.append(abs(v) < step * 1e-9 ? 0 : v); v += step }
        return out.count >= 2 ? out : [start, start + step]
    }

    static func label(_ v: Double, step: Double) -> String {
        if v == 0 { return "0" }
        if abs(v) >= 1e5 || abs(step) < 1e-3 { return String(format: "%.1e", v).replacingOccurrences(of: "e-0", with: "e-")
            .replacingOccurrences(of: "e+0", with: "e") }
        let decimals = max(0, Int(-floor(log10(step))))
        return String(format: "%.\(decimals)f", v)
    }

    private func f(_ v: Double) -> String { String(format: "%.1f", v) }
}

enum HTML {
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}
