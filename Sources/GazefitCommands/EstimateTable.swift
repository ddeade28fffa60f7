import CommandLineSupport
import GazeKit
import LinearDynamics

/// What `gazefit filter|smooth` estimated at each input row, ready to be written as JSON or CSV:
/// the row's time, the estimate in observation space (H·mean + d) with its covariance (H·P·Hᵀ), the
/// state's mean and covariance, and whether the row was masked. One row out per row in, so the
/// result lines up with the input file. What the data have not determined yet under a diffuse
/// start (the estimate before H·mean is finite, the state before it is identified) is left out:
/// empty CSV cells and JSON nulls, where the daemon publishes nulls.
struct EstimateTable {
    /// The output formats.
    enum Format: String, CaseIterable {
        case json, csv

        /// `--format` when given, else chosen by the output's name (`.csv` → CSV), else JSON.
        static func chosen(flag: String?, output: String?, command: String) throws(UsageError) -> Format {
            if let flag {
                guard let format = Format(rawValue: flag) else {
                    throw UsageError(command: command, "--format must be json or csv, got \"\(flag)\"")
                }
                return format
            }
            return output?.lowercased().hasSuffix(".csv") == true ? .csv : .json
        }
    }

    /// The input's observed column names (after `t`), used for the estimate's columns.
    let columnNames: [String]
    /// Each row's time, as read.
    let times: [Double]
    /// Whether each row was masked (lost).
    let mask: [Bool]
    /// The filtered or smoothed state moments, one per row.
    let states: StateTrajectory
    /// Whether each row's estimate in observation space (and the gaze), and its state, are
    /// determined by the data (else written as empty or null).
    let estimateKnown: [Bool], stateKnown: [Bool]
    /// H and d, which map a state to the observation space.
    let observation: Matrix, offset: [Double]
    /// The data's log-likelihood under the model (the filter's).
    let logLikelihood: Double

    /// The estimate in observation space at row t: H·mean + d.
    func estimate(at t: Int) -> [Double] { zip(observation * states.mean(at: t), offset).map(+) }

    /// Its covariance at row t: H·P·Hᵀ, symmetric by construction (upper triangle mirrored).
    func estimateCovariance(at t: Int) -> Matrix {
        var covariance = observation * states.covariance(at: t) * observation.transposed
        for i in 0..<covariance.rows { for j in 0..<i { covariance[i, j] = covariance[j, i] } }
        return covariance
    }

    /// Whether the rows are both eyes (`lx,ly,rx,ry`): then the gaze between them is written too.
    var isBinocular: Bool { columnNames == BinocularGaze.columns && observation.rows == 4 }

    /// A binocular row's cyclopean gaze (x, y) and its 2×2 covariance, as the daemon publishes it.
    func gaze(at t: Int) -> (mean: [Double], covariance: [Double]) {
        let eyes = estimate(at: t), eyesCovariance = estimateCovariance(at: t).elements
        var mean = [0.0, 0], covariance = [0.0, 0, 0, 0]
        eyes.withUnsafeBufferPointer { e in
            eyesCovariance.withUnsafeBufferPointer { c in
                mean.withUnsafeMutableBufferPointer { g in
                    covariance.withUnsafeMutableBufferPointer { gc in BinocularGaze.cyclopean(eyes: e, covariance: c, into: g, covariance: gc) }
                }
            }
        }
        return (mean, covariance)
    }

    /// The text in `format`.
    func text(_ format: Format) -> String {
        switch format {
        case .json: json()
        case .csv: csv()
        }
    }

    /// JSON: `means`, `covariances` and `loglikelihood` (the state's moments, as before), plus the
    /// per-row `t`, `estimates` (T×m), `estimate_covariances` (T×m×m), `masked`, and `columns`
    /// (the names of the estimate's components).
    func json() -> String {
        var writer = JSONTextWriter()
        writer.beginObject()
        writer.key("means")
        writer.beginArray()
        for t in 0..<states.count { if stateKnown[t] { writer.numbers(states.mean(at: t)) } else { writer.null() } }
        writer.endArray()
        writer.key("covariances")
        writer.beginArray()
        for t in 0..<states.count { if stateKnown[t] { writer.matrix(states.covariance(at: t)) } else { writer.null() } }
        writer.endArray()
        writer.key("loglikelihood")
        writer.number(logLikelihood)
        writer.key("columns")
        writer.strings(columnNames)
        writer.key("t")
        writer.numbers(times)
        writer.key("estimates")
        writer.beginArray()
        for t in 0..<states.count { if estimateKnown[t] { writer.numbers(estimate(at: t)) } else { writer.null() } }
        writer.endArray()
        writer.key("estimate_covariances")
        writer.beginArray()
        for t in 0..<states.count { if estimateKnown[t] { writer.matrix(estimateCovariance(at: t)) } else { writer.null() } }
        writer.endArray()
        if isBinocular {  // the gaze between the eyes (T×2) and its covariance (T×2×2)
            writer.key("gaze")
            writer.beginArray()
            for t in 0..<states.count { if estimateKnown[t] { writer.numbers(gaze(at: t).mean) } else { writer.null() } }
            writer.endArray()
            writer.key("gaze_covariances")
            writer.beginArray()
            for t in 0..<states.count {
                if estimateKnown[t] { writer.matrix(Matrix(rows: 2, columns: 2, elements: gaze(at: t).covariance)) } else { writer.null() }
            }
            writer.endArray()
        }
        writer.key("masked")
        writer.beginArray()
        for masked in mask { writer.bool(masked) }
        writer.endArray()
        writer.endObject()
        return writer.text + "\n"
    }

    /// The CSV header: `t`, the input's column names (the estimate), `cov_<a>_<b>` for the upper
    /// triangle of its covariance (row by row), for both eyes' rows then the gaze between them
    /// (`x,y,cov_x_x,cov_x_y,cov_y_y`), `s0…s<n-1>` (the state's mean, named as
    /// `gazefit sample --states` names them), `masked`.
    var csvHeader: [String] {
        var names = ["t"] + columnNames
        for i in columnNames.indices { for j in i..<columnNames.count { names.append("cov_\(columnNames[i])_\(columnNames[j])") } }
        if isBinocular { names += ["x", "y", "cov_x_x", "cov_x_y", "cov_y_y"] }
        names += (0..<states.dimension).map { "s\($0)" }
        return names + ["masked"]
    }

    /// CSV: one line per input row, numbers in shortest round-trip form, `masked` as 1 or 0.
    func csv() -> String {
        var text = csvHeader.joined(separator: ",") + "\n"
        text.reserveCapacity(text.utf8.count + states.count * 24 * csvHeader.count)
        let m = columnNames.count
        let n = states.dimension
        let emptyEstimate = String(repeating: ",", count: csvHeader.count - 2 - n), emptyState = String(repeating: ",", count: n)
        for t in 0..<states.count {
            text += "\(times[t])"
            if estimateKnown[t] {
                for value in estimate(at: t) { text += ",\(value)" }
                let covariance = estimateCovariance(at: t)
                for i in 0..<m { for j in i..<m { text += ",\(covariance[i, j])" } }
                if isBinocular {
                    let (mean, gazeCovariance) = gaze(at: t)
                    text += ",\(mean[0]),\(mean[1]),\(gazeCovariance[0]),\(gazeCovariance[1]),\(gazeCovariance[3])"
                }
            } else {
                text += emptyEstimate
            }
            if stateKnown[t] { for value in states.mean(at: t) { text += ",\(value)" } } else { text += emptyState }
            text += mask[t] ? ",1\n" : ",0\n"
        }
        return text
    }
}
