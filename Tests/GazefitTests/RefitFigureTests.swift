import Foundation
import GazeRefit
import Testing

/// The refit figure's axes: readable tick labels for wall-clock times and short spans.
@Suite struct RefitFigureTests {
    /// The tick labels of each panel: x labels (centred under the plot) and y labels (right-aligned).
    static func tickLabels(_ svg: String) -> [(x: [String], y: [String])] {
        svg.components(separatedBy: "<g>").dropFirst().map { panel in
            func labels(_ anchor: String) -> [String] {
                panel.components(separatedBy: "text-anchor=\"\(anchor)\"").dropFirst().compactMap { piece in
                    guard piece.hasPrefix(" fill=\"#444\">") || piece.contains("dominant-baseline=\"middle\" fill=\"#444\">") else { return nil }
                    return piece.split(separator: ">", maxSplits: 1).last.map { String($0.prefix { $0 != "<" }) }
                }
            }
            return (labels("middle"), labels("end"))
        }
    }

    @Test func wallClockTimesAndShortSpansGetDistinctNiceLabels() throws {
        let t0 = 1_763_456_789.25
        let count = 300
        let times = (0..<count).map { t0 + Double($0) * 0.0001 }  // a 0.03 s stretch at wall-clock time
        func point(_ i: Int) -> (x: Double, y: Double) {
            let k = Double(i)
            return (x: 512 + k * 1e-5, y: 384 + sin(k / 30))  // x barely moves: a span of 0.003 px
        }
        let trace = (0..<count).map(point)
        let raw: [(x: Double, y: Double)?] = (0..<count).map { i -> (x: Double, y: Double)? in i % 50 == 7 ? nil : point(i) }
        let figure = RefitFigure(title: "t", subtitle: [], logLikelihoods: [-1_234_567.0001, -1_234_567.0002, -1_234_567.00025],
                                 stretch: .init(times: times, raw: raw, filtered: trace, smoothed: trace))
        let svg = figure.svg
        #expect(svg.contains("t − t0 (s), t0 = 1763456789.250 s"))
        let panels = Self.tickLabels(svg)
        try #require(panels.count == 3)
        for (index, panel) in panels.enumerated() {
            for labels in [panel.x, panel.y] {
                #expect(labels.count >= 3, "panel \(index): \(labels)")
                #expect(Set(labels).count == labels.count, "panel \(index) repeats a label: \(labels)")
                #expect(!labels.contains { $0.contains("e9") }, "panel \(index): \(labels)")
                // Nice steps: the labels, as numbers, are evenly spaced by 1, 2 or 5 × 10^k.
                let values = labels.compactMap(Double.init)
                #expect(values.count == labels.count, "panel \(index): \(labels)")
                let step = values[1] - values[0]
                let mantissa = step / pow(10, log10(step).rounded(.down))
                #expect([1.0, 2.0, 5.0].contains { abs(mantissa - $0) < 1e-3 }, "panel \(index) step \(step): \(labels)")
            }
        }
        #expect(panels[0].x == ["0", "1", "2"])  // iterations are whole numbers
        let timeLabels = panels[1].x
        #expect(timeLabels.first == "0.000" && timeLabels.contains("0.010"), "\(timeLabels)")
    }

    /// An unconverged fit is marked; the curve is per observed sample, with its axis labelled;
    /// the current parameters' trace is drawn beside the fitted one.
    @Test func anUnconvergedFitIsMarkedAndBothTracesAreDrawn() {
        let times = (0..<50).map { Double($0) / 250 }
        let trace = times.map { (x: 500 + $0, y: 300 - $0) }
        let other = times.map { (x: 510 + $0, y: 290 - $0) }
        func figure(converged: Bool) -> String {
            RefitFigure(title: "t", subtitle: [], logLikelihoods: [-5000, -4000, -3900], observedSamples: 1000, converged: converged,
                        stretch: .init(times: times, raw: trace.map { Optional($0) }, filtered: trace, smoothed: trace, current: other)).svg
        }
        let unconverged = figure(converged: false), converged = figure(converged: true)
        #expect(unconverged.contains("NOT CONVERGED") && !converged.contains("NOT CONVERGED"))
        #expect(converged.contains("log-likelihood per observed sample (nats; 1000 samples)"))
        #expect(Self.tickLabels(converged)[0].y.contains { $0.hasPrefix("-4") || $0.hasPrefix("-5") })  // -5 … -3.9 per sample, not -5000
        #expect(converged.contains(">current<") && converged.contains(">fitted<") && converged.contains("stroke-dasharray"))
    }
}
