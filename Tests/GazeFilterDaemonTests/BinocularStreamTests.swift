import Foundation
import GazeKit
import LinearDynamics
import Testing
import _TestSupport

/// Issue 12's binocular must-show, through the real daemon: a known gaze trajectory, each eye
/// the truth plus its own noise and offset, one eye lost for stretches, then the other, then
/// both. The published gaze follows the remaining eye (its error in one-eye stretches stays
/// at the one-eye level and its covariance covers it), its error over the stream is below
/// either eye's alone, and its 2×2 covariance is calibrated (mean eᵀ·P⁻¹·e ≈ 2).
@Suite struct BinocularStreamTests {
    /// What happens to the eyes in each stretch of the pattern (repeated over the stream).
    enum Stretch { case both, leftLost, rightLost, bothLost }
    static let pattern: [(Stretch, Int)] = [(.both, 300), (.leftLost, 250), (.both, 150), (.rightLost, 250), (.both, 100), (.bothLost, 20)]

    /// One published message, read with JSONSerialization.
    struct Published {
        var x: Double?, y: Double?, cov: [Double]?, eyes: [String: Any]?, masked: Bool, seq: Int
        init(_ payload: [UInt8]) throws {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any])
            x = object["x"] as? Double
            y = object["y"] as? Double
            cov = (object["cov"] as? [[Double]])?.flatMap { $0 }
            eyes = object["eyes"] as? [String: Any]
            masked = try #require(object["masked"] as? Bool)
            seq = try #require(object["seq"] as? Int)
        }
    }

    static func mahalanobis(_ e: [Double], _ p: [Double]) -> Double {
        let det = p[0] * p[3] - p[1] * p[2]
        return (e[0] * e[0] * p[3] - e[0] * e[1] * (p[1] + p[2]) + e[1] * e[1] * p[0]) / det
    }

    static func rms(_ errors: [Double]) -> Double { (errors.reduce(0, +) / Double(max(errors.count, 1))).squareRoot() }

    @Test func theGazeFollowsTheRemainingEyeAndBeatsEitherEyeAlone() throws {
        let directory = makeTemporaryDirectory("binocular")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let truthModel = GazeModels.binocular
        try ParameterFile(parameters: truthModel).write(to: directory + "/binocular.json")
        try ParameterFile(parameters: GazeModels.randomWalk).write(to: directory + "/default.json")
        try """
            {"params": "\(directory)/default.json", "binocular_params": "\(directory)/binocular.json", "params_dir": null,
             "record_dir": "\(directory)/recordings", "streams": {"both-eyes": {"binocular": true, "smooth_lag": 8}}}
            """.write(toFile: directory + "/config.json", atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(directory: directory, arguments: ["--config", directory + "/config.json"])
        let client = try GazeTestClient(daemon: daemon)

        // The truth and both eyes, drawn from the model; then the stretches' losses.
        var generator = SeededGenerator(seed: 12)
        let steps = 3_000
        let drawn = truthModel.sample(steps: steps, using: &generator)
        var stretches: [Stretch] = []
        while stretches.count < steps { for (kind, length) in Self.pattern { stretches += Array(repeating: kind, count: length) } }
        var rows: [[Double]] = []
        for t in 0..<steps {
            var row = drawn.observations[t]!
            switch stretches[t] {
            case .both: break
            case .leftLost: (row[0], row[1]) = (.nan, .nan)
            case .rightLost: (row[2], row[3]) = (-1, -1)  // the negative loss rule, per eye
            case .bothLost: row = [.nan, .nan, -1, -1]
            }
            rows.append(row)
            func cell(_ value: Double) -> String { value.isNaN ? "null" : "\(value)" }
            try client.publish(stream: "both-eyes", json: "{\"t\": \(Double(t) / 250), \"lx\": \(cell(row[0])), \"ly\": \(cell(row[1])), \"rx\": \(cell(row[2])), \"ry\": \(cell(row[3]))}")
        }
        let received = try client.receive(count: 2 * steps - 8) { $0 == "gaze.clean.both-eyes" || $0 == "gaze.smooth.both-eyes" }
        let messages = try received.filter { $0.topic == "gaze.clean.both-eyes" }.map { try Published($0.payload) }
        let smoothed = try received.filter { $0.topic == "gaze.smooth.both-eyes" }.map { try Published($0.payload) }
        try #require(messages.count == steps, "\(messages.count) of \(steps) estimates; log: \(daemon.log)")
        try #require(smoothed.count == steps - 8, "\(smoothed.count) of \(steps - 8) fixed-lag estimates")

        // The daemon's estimate is the core filter's on the same rows (a lost eye NaN), projected
        // to the cyclopean gaze: G·mu + g with G the mean of the eyes' rows, covariance G·P·Gᵀ.
        var reference = OnlineKalmanFilter(parameters: truthModel, start: .diffuse)
        var errors: [Stretch: [Double]] = [:], coverage: [Stretch: [Double]] = [:], allErrors: [Double] = [], allCoverage: [Double] = []
        var eyeErrors: [[Double]] = [[], []]
        for t in 0..<steps {
            let message = messages[t]
            #expect(message.seq == t + 1)
            var observed = rows[t]
            for i in observed.indices where observed[i] < 0 { observed[i] = .nan }
            _ = try reference.step(observed.allSatisfy(\.isNaN) ? nil : observed)
            let eyes = try #require(message.eyes, "binocular messages carry each eye's prediction")
            #expect(eyes["left_observed"] as? Bool == (stretches[t] == .both || stretches[t] == .rightLost))
            #expect(eyes["right_observed"] as? Bool == (stretches[t] == .both || stretches[t] == .leftLost))
            #expect(message.masked == (stretches[t] == .bothLost))
            guard let x = message.x, let y = message.y, let cov = message.cov, cov.count == 4 else { continue }
            if reference.hasObservationEstimate {
                var estimate = [Double](repeating: 0, count: 4), covariance = [Double](repeating: 0, count: 16)
                reference.observationEstimate(mean: &estimate, covariance: &covariance)
                #expect(abs(x - (estimate[0] + estimate[2]) / 2) < 1e-9 * max(1, abs(x)))
                #expect(abs((eyes["rx"] as? Double ?? .nan) - estimate[2]) < 1e-9 * max(1, abs(estimate[2])))
                let gazeXX = (covariance[0] + covariance[2] + covariance[8] + covariance[10]) / 4
                #expect(abs(cov[0] - gazeXX) < 1e-9 * max(1, gazeXX))
            }
            let truth = Array(drawn.states.means[(t * 2)..<(t * 2 + 2)])
            let e = [x - truth[0], y - truth[1]]
            let squared = e[0] * e[0] + e[1] * e[1]
            let m = Self.mahalanobis(e, cov)
            errors[stretches[t], default: []].append(squared)
            coverage[stretches[t], default: []].append(m)
            allErrors.append(squared)
            allCoverage.append(m)
            // Each eye alone, where it was seen: its error against the truth (its offset removed).
            let raw = drawn.observations[t]!
            if !rows[t][0].isNaN && rows[t][0] >= 0 {
                eyeErrors[0].append(pow(raw[0] - 3 - truth[0], 2) + pow(raw[1] + 2 - truth[1], 2))
            }
            if rows[t][2] >= 0 { eyeErrors[1].append(pow(raw[2] + 3 - truth[0], 2) + pow(raw[3] - 2 - truth[1], 2)) }
        }
        // gaze.smooth: sample k's cyclopean gaze from the RTS smoother over the rows up to k + 8.
        for k in stride(from: 0, to: steps - 8, by: 97) {
            let rowsUpTo = ObservationSequence(dimension: 4, rows: rows[0...(k + 8)].map { row -> [Double]? in
                let observed = row.map { $0 < 0 ? Double.nan : $0 }
                return observed.allSatisfy(\.isNaN) ? nil : observed
            })
            let smoother = try truthModel.smooth(rowsUpTo, start: .diffuse)
            let mean = smoother.smoothed.mean(at: k)
            let g = [mean[0], mean[1]]  // G = I (H = [I; I]) and g = (d_l + d_r) / 2 = 0: the state's position
            let message = smoothed[k]
            #expect(message.seq == k + 1 && message.eyes != nil)
            #expect(abs((message.x ?? .nan) - g[0]) < 1e-9 * abs(g[0]) && abs((message.y ?? .nan) - g[1]) < 1e-9 * abs(g[1]),
                    "k = \(k): \(String(describing: message.x)), \(String(describing: message.y)) against \(g)")
            let p = smoother.smoothed.covariance(at: k)
            #expect(abs((message.cov?[0] ?? .nan) - p[0, 0]) < 1e-9 * p[0, 0])
        }
        let overall = Self.rms(allErrors), left = Self.rms(eyeErrors[0]), right = Self.rms(eyeErrors[1])
        print("binocular: RMS error \(overall) px (left eye alone \(left), right eye alone \(right)); "
              + [Stretch.both, .leftLost, .rightLost, .bothLost].map { "\($0): RMS \(Self.rms(errors[$0] ?? [])) px, mean eᵀP⁻¹e \((coverage[$0] ?? []).reduce(0, +) / Double(max(1, coverage[$0]?.count ?? 0)))" }.joined(separator: "; ")
              + "; over the stream mean eᵀP⁻¹e \(allCoverage.reduce(0, +) / Double(allCoverage.count))")
        #expect(overall < left && overall < right, "RMS error \(overall) px against the left eye's \(left) and the right eye's \(right)")
        // One eye left: the estimate stays at that eye's filtered level, far below the eye's raw
        // error and far from the drift of the stretches without either eye; it does not run away.
        for stretch in [Stretch.leftLost, .rightLost] {
            let oneEye = Self.rms(errors[stretch]!), remaining = stretch == .leftLost ? right : left
            #expect(oneEye < remaining, "\(stretch): RMS \(oneEye) px, the remaining eye alone \(remaining) px")
            #expect(oneEye > Self.rms(errors[.both]!), "\(stretch): one eye \(oneEye) px should be worse than both \(Self.rms(errors[.both]!)) px")
            let calibration = coverage[stretch]!.reduce(0, +) / Double(coverage[stretch]!.count)
            #expect(calibration > 1.6 && calibration < 2.5, "\(stretch): mean eᵀP⁻¹e \(calibration)")
        }
        let calibration = allCoverage.reduce(0, +) / Double(allCoverage.count)
        #expect(calibration > 1.7 && calibration < 2.4, "mean eᵀP⁻¹e over the stream \(calibration)")

        // The recording keeps both eyes, as received.
        _ = daemon.terminate()
        let recordings = directory + "/recordings/both-eyes"
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: recordings).first)
        let text = try String(contentsOfFile: recordings + "/" + file, encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.first == "t,lx,ly,rx,ry")
        #expect(lines.count == steps + 1)
    }
}
