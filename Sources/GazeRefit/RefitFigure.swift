import Foundation

/// The SVG figure a refit leaves per stream: EM's log-likelihood per observed sample at each
/// iteration (an unconverged fit marked as such), and a stretch of raw gaze (x and y over
/// time, lost samples marked) with the fitted parameters' filtered and smoothed traces and the
/// current parameters' filtered trace beside them, so the gate's decision can be seen.
/// Plain SVG text, so no plotting library is needed to make or view it.
public struct RefitFigure: Sendable {
    /// A stretch of one sequence to draw.
    public struct Stretch: Sendable {
        /// Each sample's time (seconds, as recorded; drawn relative to the first).
        public var times: [Double]
        /// Raw x and y; nil where the sample was lost.
        public var raw: [(x: Double, y: Double)?]
        /// The fitted parameters' filtered estimate's (x, y) at each sample.
        public var filtered: [(x: Double, y: Double)]
        /// The fitted parameters' smoothed estimate's (x, y) at each sample.
        public var smoothed: [(x: Double, y: Double)]
        /// The current parameters' filtered estimate's (x, y) at each sample, when there is one.
        public var current: [(x: Double, y: Double)]?

        /// A stretch; all arrays have one entry per sample.
        public init(times: [Double], raw: [(x: Double, y: Double)?], filtered: [(x: Double, y: Double)], smoothed: [(x: Double, y: Double)],
                    current: [(x: Double, y: Double)]? = nil) {
            self.times = times
            self.raw = raw
            self.filtered = filtered
            self.smoothed = smoothed
            self.current = current
        }
    }

    /// The figure's heading.
    public var title: String
    /// Lines under the title (data, decision).
    public var subtitle: [String]
    /// EM's log-likelihood before iteration 1 and after each.
    public var logLikelihoods: [Double]
    /// The observed samples EM fitted: the curve is drawn per observed sample (1: as totals).
    public var observedSamples: Int
    /// Whether EM converged; an unconverged fit is marked. Nil when EM did not run.
    public var converged: Bool?
    /// The gaze to draw, if any.
    public var stretch: Stretch?

    /// A figure of these parts.
    public init(title: String, subtitle: [String], logLikelihoods: [Double], observedSamples: Int = 1, converged: Bool? = nil, stretch: Stretch?) {
        self.title = title
        self.subtitle = subtitle
        self.logLikelihoods = logLikelihoods
        self.observedSamples = max(1, observedSamples)
        self.converged = converged
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
        let perSample = observedSamples > 1
        let curveTitle = (perSample ? "EM log-likelihood per observed sample (nats; \(observedSamples) samples)" : "EM log-likelihood (nats)")
            + " per iteration (0 = the current parameters)"
        out += panel(top: 100, height: 170, title: curveTitle, xLabel: "iteration", integerX: true,
                     series: [Series(name: "log-likelihood", color: "#1f77b4", x: iterations,
                                     y: logLikelihoods.map { $0 / Double(observedSamples) }, dots: true)])
        if converged == false {
            out += "<text x=\"\(format(Self.width - Self.right))\" y=\"125\" text-anchor=\"end\" font-weight=\"bold\" fill=\"#d62728\">"
                + "NOT CONVERGED: EM stopped at its iteration cap</text>\n"
        }
        if let stretch, let t0 = stretch.times.first {
            // Wall-clock times (t ≈ 1.7e9 s) are unreadable as tick labels: plot t − t0.
            let times = stretch.times.map { $0 - t0 }
            let lost = stretch.raw.indices.filter { stretch.raw[$0] == nil }.map { times[$0] }
            let xLabel = "t − t0 (s), t0 = \(Self.decimal(t0, decimals: 3)) s"
            for (index, axis) in ["x", "y"].enumerated() {
                let pick: ((x: Double, y: Double)) -> Double = index == 0 ? { $0.x } : { $0.y }
                let rawPoints = stretch.raw.indices.compactMap { i in stretch.raw[i].map { (times[i], pick($0)) } }
                var series = [Series(name: "raw", color: "#999999", x: rawPoints.map(\.0), y: rawPoints.map(\.1), dots: true, line: false)]
                if let current = stretch.current {
                    series.append(Series(name: "current", color: "#2ca02c", x: times, y: current.map(pick), dashed: true))
                }
                series += [Series(name: "fitted", color: "#1f77b4", x: times, y: stretch.filtered.map(pick)),
                           Series(name: "smoothed", color: "#ff7f0e", x: times, y: stretch.smoothed.map(pick))]
                out += panel(top: 340 + Double(index) * 250, height: 180, title: "gaze \(axis) (px)", xLabel: xLabel, series: series, marks: lost)
            }
        } else {
            out += "<text x=\"\(Self.left)\" y=\"320\" fill=\"#444\">no gaze stretch to draw</text>\n"
        }
        return out + "</svg>\n"
    }

    struct Series {
        var name: String, color: String
        var x: [Double], y: [Double]
        var dots = false, line = true, dashed = false
    }

    /// An axis with "nice" ticks: steps of 1, 2 or 5 × 10^k, the range widened to whole steps,
    /// and labels with as many decimals as the step needs (so neighbouring labels always differ).
    struct Axis: Equatable {
        var lower: Double, upper: Double, step: Double
        var ticks: [Double]

        /// An axis over `values` with about `target` intervals; `integer` keeps steps ≥ 1.
        init(covering values: [Double], target: Double = 5, integer: Bool = false) {
            let finite = values.filter(\.isFinite)
            var low = finite.min() ?? 0, high = finite.max() ?? 1
            if !(high - low).isFinite {  // values near ±1e308: their span overflows; draw a unit axis
                (low, high) = (0, 1)
            }
            if !(high > low) {  // a single value: a small span around it
                let pad = max(abs(low) * 0.01, integer ? 1 : 1e-9)
                low -= pad
                high += pad
            }
            let raw = (high - low) / target
            let magnitude = pow(10, (log10(raw)).rounded(.down))
            let fraction = raw / magnitude
            var step = (fraction < 1.5 ? 1 : fraction < 3.5 ? 2 : fraction < 7.5 ? 5 : 10) * magnitude
            if integer { step = max(1, step.rounded()) }
            let first = (low / step).rounded(.down) * step, last = (high / step).rounded(.up) * step
            let count = Int(((last - first) / step).rounded())
            lower = first
            upper = last
            self.step = step
            ticks = (0...count).map { first + Double($0) * step }
        }

        /// Decimals the step needs: 0 for steps ≥ 1, 1 for 0.5 or 0.1, 3 for 0.002.
        var decimals: Int { max(0, -Int(log10(step).rounded(.down))) }

        /// A tick label: fixed notation, or scientific with the digits the step needs for huge values.
        func label(_ value: Double) -> String {
            let largest = max(abs(lower), abs(upper))
            guard largest >= 1e7 else { return RefitFigure.decimal(abs(value) < step / 2 ? 0 : value, decimals: decimals) }
            let digits = max(0, Int(log10(largest).rounded(.down)) - Int(log10(step).rounded(.down)))
            return String(format: "%.\(digits)e", value)
        }
    }

    /// `value` with exactly `decimals` decimals.
    static func decimal(_ value: Double, decimals: Int) -> String { String(format: "%.\(decimals)f", value) }

    func panel(top: Double, height: Double, title: String, xLabel: String, integerX: Bool = false, series: [Series], marks: [Double] = []) -> String {
        let plotWidth = Self.width - Self.left - Self.right
        let xs = (series.flatMap(\.x) + marks).filter(\.isFinite), ys = series.flatMap(\.y).filter(\.isFinite)
        guard !xs.isEmpty, !ys.isEmpty else {
            return "<text x=\"\(Self.left)\" y=\"\(top + 20)\">\(escape(title)): no data</text>\n"
        }
        let xAxis = Axis(covering: xs, target: 8, integer: integerX), yAxis = Axis(covering: ys, target: 4)
        let xSpan = xAxis.upper - xAxis.lower, ySpan = yAxis.upper - yAxis.lower
        func px(_ x: Double) -> String { format(Self.left + (x - xAxis.lower) / xSpan * plotWidth) }
        func py(_ y: Double) -> String { format(top + height - (y - yAxis.lower) / ySpan * height) }
        var out = "<g>\n<text x=\"\(Self.left)\" y=\"\(format(top - 8))\" font-weight=\"bold\">\(escape(title))</text>\n"
        out += "<rect x=\"\(Self.left)\" y=\"\(format(top))\" width=\"\(format(plotWidth))\" height=\"\(format(height))\" fill=\"none\" stroke=\"#ccc\"/>\n"
        for y in yAxis.ticks {
            out += "<line x1=\"\(Self.left)\" x2=\"\(format(Self.left + plotWidth))\" y1=\"\(py(y))\" y2=\"\(py(y))\" stroke=\"#eee\"/>"
            out += "<text x=\"\(format(Self.left - 6))\" y=\"\(py(y))\" text-anchor=\"end\" dominant-baseline=\"middle\" fill=\"#444\">\(yAxis.label(y))</text>\n"
        }
        for x in xAxis.ticks {
            out += "<line x1=\"\(px(x))\" x2=\"\(px(x))\" y1=\"\(format(top + height))\" y2=\"\(format(top + height + 4))\" stroke=\"#999\"/>"
            out += "<text x=\"\(px(x))\" y=\"\(format(top + height + 16))\" text-anchor=\"middle\" fill=\"#444\">\(xAxis.label(x))</text>\n"
        }
        out += "<text x=\"\(format(Self.left + plotWidth / 2))\" y=\"\(format(top + height + 32))\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        for mark in marks {
            out += "<line x1=\"\(px(mark))\" x2=\"\(px(mark))\" y1=\"\(format(top + height - 10))\" y2=\"\(format(top + height))\" stroke=\"#d62728\" stroke-width=\"1.5\"/>\n"
        }
        for s in series {
            let points = zip(s.x, s.y).filter { $0.0.isFinite && $0.1.isFinite }
            if s.line && points.count > 1 {
                out += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.5\"\(s.dashed ? " stroke-dasharray=\"4 3\"" : "") points=\""
                out += points.map { "\(px($0.0)),\(py($0.1))" }.joined(separator: " ") + "\"/>\n"
            }
            if s.dots {
                for (x, y) in points { out += "<circle cx=\"\(px(x))\" cy=\"\(py(y))\" r=\"2\" fill=\"\(s.color)\"/>\n" }
            }
        }
        // The legend sits above the plot area, right-aligned on the title's line: it never covers data.
        let entries = series.map { ($0.name, $0.color) } + (marks.isEmpty ? [] : [("lost", "#d62728")])
        for (index, entry) in entries.enumerated() {
            let legendX = Self.left + plotWidth - 90 * Double(entries.count - index)
            out += "<rect x=\"\(format(legendX))\" y=\"\(format(top - 18))\" width=\"10\" height=\"10\" fill=\"\(entry.1)\"/>"
            out += "<text x=\"\(format(legendX + 14))\" y=\"\(format(top - 8))\">\(escape(entry.0))</text>\n"
        }
        return out + "</g>\n"
    }

    func format(_ value: Double) -> String { String(Double((value * 10).rounded()) / 10) }

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
