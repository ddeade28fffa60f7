import Foundation
import GazeKit
import LinearDynamics
import Testing
import _TestSupport

/// The refit over a binocular stream's recordings (`t,lx,ly,rx,ry`, one eye lost for
/// stretches, blinks, drops, pauses, a clock restart), with the shipped settings: it reads them
/// by the stream's model per eye into m = 4 sequences, fits from the binocular default (the
/// stream's own m = 2 file does not fit the stream and is passed over, as the daemon passes it
/// over), installs m = 4 parameters whose log-likelihood on fresh data lands on the true
/// model's, and judges them like with like.
@Suite struct BinocularRefitTests {
    /// The daemon's view of the stream: binocular, 250 Hz, pauses restart it.
    static let stream = StreamModel(rateHz: 250, resetAfterSeconds: 1, binocular: true)

    /// Both eyes of one random walk, each its own noise and offset from the gaze.
    static let truth = GazeModels.binocular

    /// Log-likelihood per observed sample of `session` under `parameters`, read as the refit reads it.
    static func score(_ parameters: ModelParameters, _ session: GazeTrials, in directory: String) throws -> Double {
        try RefitConsistencyTests.score(parameters, session, in: directory, model: stream)
    }

    @Test func theRefitFitsAndInstallsBothEyesParametersNearTheTrueModel() throws {
        let root = makeTemporaryDirectory("binocular-refit")
        defer { try? FileManager.default.removeItem(atPath: root) }
        var current = Self.truth
        current.transitionCovariance = .diagonal([9, 9])
        current.observationCovariance = .diagonal([20, 20, 20, 20])
        try ParameterFile(parameters: current).write(to: root + "/binocular.json")
        try ParameterFile(parameters: GazeModels.randomWalk).write(to: root + "/default.json")
        try FileManager.default.createDirectory(atPath: root + "/params", withIntermediateDirectories: true)
        try ParameterFile(parameters: GazeModels.randomWalk).write(to: root + "/params/s.json")  // m = 2: not this stream's
        try """
            {"params": "\(root)/default.json", "binocular_params": "\(root)/binocular.json", "params_dir": "\(root)/params",
             "record_dir": "\(root)/rec", "rate_hz": 250, "reset_after_s": 1, "streams": {"s": {"binocular": true}}}
            """.write(toFile: root + "/gazefilterd.json", atomically: true, encoding: .utf8)
        var layout = GazeTrials.Layout()
        layout.trials = 8
        let session = GazeTrials(model: Self.truth, layout: layout, seed: 121)
        try FileManager.default.createDirectory(atPath: root + "/rec/s", withIntermediateDirectories: true)
        try session.recording().write(toFile: root + "/rec/s/\(UTCCalendar.day()).csv", atomically: true, encoding: .utf8)
        // Yesterday the stream was monocular: that file is listed, not read, and fails nothing.
        let yesterday = root + "/rec/s/\(UTCCalendar.day(secondsAgo: 86_400)).csv"
        try "t,x,y\n1,600,400\n".write(toFile: yesterday, atomically: true, encoding: .utf8)

        let arguments = ["refit", "--config", packageRoot + "/config/gazefit.json", "--daemon-config", root + "/gazefilterd.json",
                         "--report-dir", root + "/reports", "--reload", "none"]
        let run = try runTool("gazefit", arguments)
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardError.contains("params/s.json: a binocular stream observes both eyes (lx, ly, rx, ry): H must have 4 rows, it has 2"),
                "\(run.standardError)")
        let report = try #require(try RefitTests.report(run)["s"], "\(run.standardOutput)")
        #expect(report["decision"]?.string == "promoted", "\(report["reason"] ?? .null)")
        #expect(report["binocular"]?.bool == true)
        #expect(report["started_from"]?.string == root + "/binocular.json")
        #expect(report["other_layout_files"]?.array?.count == 1 && report["unreadable_files"]?.number == 0, "\(report)")
        #expect((report["one_eye_samples"]?.number ?? 0) > 500, "\(report["one_eye_samples"] ?? .null)")
        #expect((report["lost_samples"]?.number ?? 0) > 0)

        let installed = try ParameterFile.read(root + "/params/s.json").parameters
        #expect(installed.observationDimension == 4 && installed.stateDimension == 2)
        let fresh = GazeTrials(model: Self.truth, layout: layout, seed: 122)
        let installedScore = try Self.score(installed, fresh, in: root + "/fresh")
        let trueScore = try Self.score(Self.truth, fresh, in: root + "/fresh")
        let startScore = try Self.score(current, fresh, in: root + "/fresh")
        print("binocular refit: held-out log-likelihood per observed sample: installed \(installedScore), true \(trueScore), start \(startScore)")
        #expect(installedScore >= trueScore - 0.002, "installed \(installedScore) vs true \(trueScore): \(installedScore - trueScore) nats per sample")
        #expect(installedScore > startScore + 0.05)

        // gazefit works on the same file: filter and smooth give each eye and the state.
        let file = root + "/rec/s/\(UTCCalendar.day()).csv"
        let smoothed = try runTool("gazefit", ["smooth", "--params", root + "/params/s.json", "--input", file, "--format", "csv"])
        #expect(smoothed.status == 0, "\(smoothed.standardError)")
        let header = smoothed.standardOutput.prefix { $0 != "\n" }
        #expect(header.hasPrefix("t,lx,ly,rx,ry,cov_lx_lx,") && header.hasSuffix(",cov_ry_ry,x,y,cov_x_x,cov_x_y,cov_y_y,s0,s1,masked"), "\(header)")
        // Each row's gaze is the mean of its eyes' estimates.
        let row = try #require(smoothed.standardOutput.split(separator: "\n").dropFirst().first).split(separator: ",").compactMap { Double($0) }
        #expect(abs(row[15] - (row[1] + row[3]) / 2) < 1e-9 * abs(row[15]) && abs(row[16] - (row[2] + row[4]) / 2) < 1e-9 * abs(row[16]))
        // EM and sampling take binocular files and parameters too.
        let em = try runTool("gazefit", ["em", "--params", root + "/binocular.json", "--input", file, "--fit", "Q,R", "--iterations", "3",
                                         "--output", root + "/em.json"])
        #expect(em.status == 0, "\(em.standardError)")
        #expect(try ParameterFile.read(root + "/em.json").parameters.observationDimension == 4)
        let sample = try runTool("gazefit", ["sample", "--params", root + "/em.json", "--steps", "20", "--seed", "1", "--output", root + "/sampled.csv"])
        #expect(sample.status == 0, "\(sample.standardError)")
        let sampled = try String(contentsOfFile: root + "/sampled.csv", encoding: .utf8)
        #expect(sampled.hasPrefix("t,lx,ly,rx,ry\n"))
    }
}
