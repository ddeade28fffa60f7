/// The SVG figure a refit leaves per stream: EM's log-likelihood per iteration, and a stretch
/// of raw gaze (x and y over time, lost samples marked) with the filtered and smoothed traces.
/// Plain SVG text, so no plotting library is needed to make or view it.
public struct RefitFigure: Sendable {
    /// A stretch of one sequence to draw.
    public struct Stretch: Sendable {
        public var times: [Double]
        /// Raw x and y; nil where the sample was lost.
        public var raw: [(x: Double, y: Double)?]
        public var filtered: [(x: Double, y: Double)]
        public var smoothed: [(x: Double, y: Double)]

        public init(times: [Double], raw: [(x: Double, y: Double)?], filtered: [(x: Double, y: Double)], smoothed: [(x: Double, y: Double)]) {
            self.times = times
            self.raw = raw
            self.filtered = filtered
            self.smoothed = smoothed
        }
    }

    public var title: String
    /// Lines under the title (data, decision).
    public var subtitle: [String]
    public var logLikelihoods: [Double]
    public var stretch: Stretch?

    public init(title: String, subtitle: [String], logLikelihoods: [Double], stretch: Stretch?) {
        self.title = title
        self.subtitle = subtitle
        self.logLikelihoods = logLikelihoods
        self.stretch = stretch
    }

    static let width = 960.0, left = 80.0, right = 24.0

    /// The SVG document.
    public var svg: String {
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(Self.width))" height="840" viewBox="0 0 \(Int(Self.width)) 840" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(Self.left)" y="24" font-size="16" font-weight="bold">\(escape(title))</text>

            """
        for (index, line) in subtitle.enumerated() {
            out += "<text x=\"\(Self.left)\" y=\"\(44 + 16 * index)\" fill=\"#444\">\(escape(line))</text>\n"
        }
        let iterations = logLikelihoods.indices.map(Double.init)
        out += panel(top: 100, height: 170, title: "EM log-likelihood per iteration (0 = the current parameters)",
                     xLabel: "iteration", series: [Series(name: "log-likelihood", color: "#1f77b4", x: iterations, y: logLikelihoods, dots: true)])
        if let stretch {
            let lost = stretch.raw.indices.filter { stretch.raw[$0] == nil }.map { stretch.times[$0] }
            for (index, axis) in ["x", "y"].enumerated() {
                let pick: ((x: Double, y: Double)) -> Double = index == 0 ? { $0.x } : { $0.y }
                let rawPoints = stretch.raw.indices.compactMap { i in stretch.raw[i].map { (stretch.times[i], pick($0)) } }
                out += panel(top: 340 + Double(index) * 250, height: 180, title: "gaze \(axis) (px) over time: raw, filtered, smoothed; lost samples marked in red",
                             xLabel: "t (s)", series: [
                                Series(name: "raw", color: "#999999", x: rawPoints.map(\.0), y: rawPoints.map(\.1), dots: true, line: false),
                                Series(name: "filtered", color: "#1f77b4", x: stretch.times, y: stretch.filtered.map(pick)),
                                Series(name: "smoothed", color: "#ff7f0e", x: stretch.times, y: stretch.smoothed.map(pick)),
                             ], marks: lost)
            }
        } else {
            out += "<text x=\"\(Self.left)\" y=\"320\" fill=\"#444\">no gaze stretch to draw</text>\n"
        }
        return out + "</svg>\n"
    }

    struct Series {
        var name: String, color: String
        var x: [Double], y: [Double]
        var dots = false, line = true
    }

    func panel(top: Double, height: Double, title: String, xLabel: String, series: [Series], marks: [Double] = []) -> String {
        let plotWidth = Self.width - Self.left - Self.right
        let xs = series.flatMap(\.x) + marks, ys = series.flatMap(\.y).filter(\.isFinite)
        guard let x0 = xs.min(), let x1 = xs.max(), let y0 = ys.min(), let y1 = ys.max() else {
            return "<text x=\"\(Self.left)\" y=\"\(top + 20)\">\(escape(title)): no data</text>\n"
        }
        let xSpan = x1 > x0 ? x1 - x0 : 1, ySpan = y1 > y0 ? y1 - y0 : 1
        func px(_ x: Double) -> String { format(Self.left + (x - x0) / xSpan * plotWidth) }
        func py(_ y: Double) -> String { format(top + height - (y - y0) / ySpan * height) }
        var out = "<g>\n<text x=\"\(Self.left)\" y=\"\(format(top - 8))\" font-weight=\"bold\">\(escape(title))</text>\n"
        out += "<rect x=\"\(Self.left)\" y=\"\(format(top))\" width=\"\(format(plotWidth))\" height=\"\(format(height))\" fill=\"none\" stroke=\"#ccc\"/>\n"
        for k in 0...4 {
            let y = y0 + ySpan * Double(k) / 4, x = x0 + xSpan * Double(k) / 4
            out += "<text x=\"\(format(Self.left - 6))\" y=\"\(py(y))\" text-anchor=\"end\" dominant-baseline=\"middle\" fill=\"#444\">\(label(y))</text>\n"
            out += "<text x=\"\(px(x))\" y=\"\(format(top + height + 16))\" text-anchor=\"middle\" fill=\"#444\">\(label(x))</text>\n"
        }
        out += "<text x=\"\(format(Self.left + plotWidth / 2))\" y=\"\(format(top + height + 32))\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        for mark in marks {
            out += "<line x1=\"\(px(mark))\" x2=\"\(px(mark))\" y1=\"\(format(top + height - 10))\" y2=\"\(format(top + height))\" stroke=\"#d62728\" stroke-width=\"1.5\"/>\n"
        }
        for (index, s) in series.enumerated() {
            let points = zip(s.x, s.y).filter { $0.1.isFinite }
            if s.line && points.count > 1 {
                out += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.5\" points=\""
                out += points.map { "\(px($0.0)),\(py($0.1))" }.joined(separator: " ") + "\"/>\n"
            }
            if s.dots {
                for (x, y) in points { out += "<circle cx=\"\(px(x))\" cy=\"\(py(y))\" r=\"2\" fill=\"\(s.color)\"/>\n" }
            }
            let legendX = Self.left + plotWidth - 90 * Double(series.count + (marks.isEmpty ? 0 : 1)) + Double(index) * 90
            out += "<rect x=\"\(format(legendX))\" y=\"\(format(top + 6))\" width=\"10\" height=\"10\" fill=\"\(s.color)\"/>"
            out += "<text x=\"\(format(legendX + 14))\" y=\"\(format(top + 15))\">\(escape(s.name))</text>\n"
        }
        if !marks.isEmpty {
            let legendX = Self.left + plotWidth - 90
            out += "<rect x=\"\(format(legendX))\" y=\"\(format(top + 6))\" width=\"10\" height=\"10\" fill=\"#d62728\"/><text x=\"\(format(legendX + 14))\" y=\"\(format(top + 15))\">lost</text>\n"
        }
        return out + "</g>\n"
    }

    func format(_ value: Double) -> String { String(Double((value * 10).rounded()) / 10) }

    func label(_ value: Double) -> String {
        let magnitude = abs(value)
        if magnitude >= 1e5 || (magnitude < 1e-2 && magnitude > 0) {
            let exponent = Int((magnitude.logBase10).rounded(.down))
            let mantissa = value / Double.exp10(exponent)
            return "\(Double((mantissa * 100).rounded()) / 100)e\(exponent)"
        }
        return String(Double((value * 100).rounded()) / 100)
    }

    func escape(_ text: String) -> String {
        text.replacingAll("&", "&amp;").replacingAll("<", "&lt;").replacingAll(">", "&gt;").replacingAll("\"", "&quot;")
    }
}

extension String {
    func replacingAll(_ target: Character, _ replacement: String) -> String {
        var result = ""
        for character in self { if character == target { result += replacement } else { result.append(character) } }
        return result
    }
}

extension Double {
    var logBase10: Double {
        var x = self, e = 0.0
        while x >= 10 { x /= 10; e += 1 }
        while x < 1 && x > 0 { x *= 10; e -= 1 }
        return e
    }
    static func exp10(_ exponent: Int) -> Double {
        var result = 1.0
        if exponent >= 0 { for _ in 0..<exponent { result *= 10 } } else { for _ in 0..<(-exponent) { result /= 10 } }
        return result
    }
}
