import Foundation
import GazeKit
import LinearDynamics
import Testing
import _TestSupport

/// `gazefit filter|smooth` output that lines up with the input: one row per input row with `t`,
/// the estimate in observation space and its covariance, the state and `masked`, as CSV (by
/// `--format csv` or an output named `.csv`) and as JSON fields beside the old keys.
@Suite struct GazefitEstimateOutputTests {
    /// A CSV's header and rows of numbers.
    func readCSV(_ text: String) -> (header: [String], rows: [[Double]]) {
        let lines = text.split(separator: "\n")
        let header = lines.first.map { $0.split(separator: ",").map(String.init) } ?? []
        return (header, lines.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map { Double($0) ?? .nan } })
    }

    @Test(arguments: ReferenceCase.all())
    func csvRowsLineUpWithTheInput(_ reference: ReferenceCase) throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let parameters = reference.parameters
        let n = parameters.stateDimension, m = parameters.observationDimension
        let input = try ObservationFile.read(reference.directory + "/observations.csv", model: reference.model)
        for (command, key) in [("filter", "filter"), ("smooth", "smoother")] {
            // By name (.csv) and by --format to stdout: the same text.
            let output = directory + "/\(command).csv"
            // The cases are pykalman's: its start rule (mu_0, sigma_0).
            var arguments = [command, "--params", reference.directory + "/params.json", "--input", reference.directory + "/observations.csv",
                             "--start", "params"]
            if reference.model.loss == .none { arguments += ["--loss", "none"] }
            if parameters.transitionOffsets != nil { arguments += ["--transition-offsets", reference.directory + "/transition_offsets.csv"] }
            let byName = try runTool("gazefit", arguments + ["--output", output])
            #expect(byName.status == 0, "\(byName.standardError)")
            let byFlag = try runTool("gazefit", arguments + ["--format", "csv"])
            #expect(byFlag.status == 0, "\(byFlag.standardError)")
            let text = try String(contentsOfFile: output, encoding: .utf8)
            #expect(text == byFlag.standardOutput)

            let table = readCSV(text)
            let names = input.columnNames
            var header = ["t"] + names
            for i in 0..<m { for j in i..<m { header.append("cov_\(names[i])_\(names[j])") } }
            header += (0..<n).map { "s\($0)" } + ["masked"]
            #expect(table.header == header)
            #expect(table.rows.count == input.times.count)
            let expectedMeans = reference.expectedRows(key, "means"), expectedCovariances = reference.expectedMatrices(key, "covariances")
            for (t, row) in table.rows.enumerated() {
                #expect(row.count == header.count, "row \(t)")
                guard row.count == header.count else { break }
                #expect(row[0] == input.times[t], "t at row \(t)")
                let state = Array(row[(1 + m + m * (m + 1) / 2)...].prefix(n))
                #expect(firstMismatch(state, expectedMeans[t], relative: 1e-9, absolute: 1e-9, label: "row \(t) state") == nil)
                let estimate = zip(parameters.observation * expectedMeans[t], parameters.observationOffset).map(+)  // H·mean + d
                #expect(firstMismatch(Array(row[1...m]), estimate, relative: 1e-9, absolute: 1e-9, label: "row \(t) estimate") == nil)
                let covariance = parameters.observation * expectedCovariances[t] * parameters.observation.transposed
                var upper: [Double] = []
                for i in 0..<m { for j in i..<m { upper.append(covariance[i, j]) } }
                #expect(firstMismatch(Array(row[(1 + m)...].prefix(upper.count)), upper, relative: 1e-9, absolute: 1e-9,
                                      label: "row \(t) covariance") == nil)
                #expect(row.last == (input.observations.mask[t] ? 1 : 0), "masked at row \(t)")
            }
            #expect(table.rows.filter { $0.last == 1 }.count == Int(reference.expected("n_masked").number!))
        }
    }

    @Test func jsonKeepsItsKeysAndGainsThePerRowFields() throws {
        let reference = try #require(ReferenceCase.all().first { $0.name == "gaze_2d" })
        let output = try runTool("gazefit", ["smooth", "--params", reference.directory + "/params.json",
                                             "--input", reference.directory + "/observations.csv", "--start", "params"])
        #expect(output.status == 0, "\(output.standardError)")
        let json = try #require(try JSONValue.parse(Data(output.standardOutput.utf8)).object)
        for key in ["means", "covariances", "loglikelihood", "columns", "t", "estimates", "estimate_covariances", "masked"] {
            #expect(json[key] != nil, "missing \(key)")
        }
        #expect(json["columns"]?.array?.compactMap(\.string) == reference.observations.columnNames)
        #expect(json["t"]?.numbers == reference.observations.times)
        #expect(json["masked"]?.array?.compactMap(\.bool) == reference.observations.observations.mask)
        let means = try #require(json["means"]?.numberRows), estimates = try #require(json["estimates"]?.numberRows)
        #expect(estimates.count == means.count)
        for (mean, estimate) in zip(means, estimates) {
            #expect(firstMismatch(estimate, reference.parameters.observation * mean, relative: 1e-12, absolute: 1e-9, label: "estimate") == nil)
        }
        #expect(json["estimate_covariances"]?.array?.count == means.count)
    }

    @Test func anUnknownFormatIsRefused() throws {
        let reference = try #require(ReferenceCase.all().first)
        let output = try runTool("gazefit", ["filter", "--params", reference.directory + "/params.json",
                                             "--input", reference.directory + "/observations.csv", "--format", "xlsx"])
        #expect(output.status == 2 && output.standardError == "gazefit filter: --format must be json or csv, got \"xlsx\" (see gazefit filter --help)\n",
                "\(output.standardError)")
    }

    /// Rows whose state the data have not determined yet have no estimate, as the daemon publishes
    /// nulls there: under the diffuse start, the filter's rows before y is first seen, the
    /// fixed-lag rows whose window has not seen it, none of the smoother's. Empty CSV cells, JSON
    /// nulls. Under the course's rule the rows before its first sample hold mu_0 and sigma_0, as
    /// the daemon publishes them.
    @Test func rowsTheDataHaveNotDeterminedHaveNoEstimate() throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let input = directory + "/late.csv"
        try "t,x,y\n0,,\n1,500,\n2,501,\n3,502,400\n4,503,401\n".write(toFile: input, atomically: true, encoding: .utf8)
        let params = packageRoot + "/config/params/simulate-gaze.json"
        func known(_ arguments: [String]) throws -> [Bool] {
            let output = try runTool("gazefit", arguments + ["--params", params, "--input", input, "--format", "csv"])
            #expect(output.status == 0, "\(output.standardError)")
            return readCSV(output.standardOutput).rows.map { row in row.dropFirst().dropLast().allSatisfy { !$0.isNaN } }
        }
        #expect(try known(["filter"]) == [false, false, false, true, true])
        #expect(try known(["fixed-lag", "--lag", "1"]) == [false, false, true, true, true])
        #expect(try known(["smooth"]) == [true, true, true, true, true])
        #expect(try known(["filter", "--start", "first-sample"]) == [true, true, true, true, true])
        #expect(try known(["filter", "--start", "params"]) == [true, true, true, true, true])
        let json = try runTool("gazefit", ["filter", "--params", params, "--input", input])
        let object = try JSONValue.parse(Data(json.standardOutput.utf8)).object!
        for key in ["means", "covariances", "estimates", "estimate_covariances"] {
            #expect(object[key]!.array!.map { $0 == .null } == [true, true, true, false, false], "\(key)")
        }
    }
}

