import Foundation
import GazeKit
import LinearDynamics
import Testing
import _TestSupport

/// The one stream model: loss rules, the plausible range, time to steps, paths and the CSV numbers.
@Suite struct StreamModelTests {
    func verdict(_ model: StreamModel, _ x: Double, _ y: Double, confidence: Double = .nan) -> SampleVerdict {
        model.verdict([x, y], confidence: confidence)
    }

    @Test func eachLossRuleMasksItsTrackersConvention() {
        let cases: [(LossRule, lost: [(Double, Double, Double)], kept: [(Double, Double, Double)])] = [
            (.negative, [(-1, 5, .nan), (5, -0.001, .nan)], [(0, 0, .nan), (5, 5, 0)]),
            (.notANumber, [], [(-1, -1, .nan), (0, 0, .nan)]),
            (.zero, [(0, 5, .nan), (5, 0, .nan)], [(-1, 5, .nan), (1e-300, 5, .nan)]),
            (.sentinel(-32768), [(-32768, 5, .nan), (5, -32768, .nan)], [(-32767, 5, .nan), (0, 0, .nan), (-1, -1, .nan)]),
            (.confidenceBelow(0.6), [(5, 5, 0.59), (5, 5, 0), (5, 5, .nan)], [(5, 5, 0.6), (5, 5, 1), (-1, -1, 0.9)]),
            (.none, [], [(-1, 0, .nan), (-32768, 5, .nan)]),
        ]
        for (rule, lost, kept) in cases {
            let model = StreamModel(loss: rule, plausible: PlausibleRange(lower: -40_000, upper: 40_000))
            for (x, y, c) in lost { #expect(verdict(model, x, y, confidence: c) == .lost, "\(rule) \(x),\(y),\(c)") }
            for (x, y, c) in kept { #expect(verdict(model, x, y, confidence: c) == .observed, "\(rule) \(x),\(y),\(c)") }
            // A value that is not a number is lost under every rule.
            #expect(verdict(model, .nan, 5, confidence: 1) == .lost && verdict(model, 5, .nan, confidence: 1) == .lost, "\(rule)")
            // Each rule reads back from its own spelling.
            #expect(LossRule(rule.description) == rule, "\(rule)")
        }
        for bad in ["", "negativ", "sentinel", "sentinel:", "sentinel:x", "sentinel:inf", "confidence:1.5", "confidence:-0.1", "zero:1"] {
            #expect(LossRule(bad) == nil, "\(bad)")
        }
    }

    @Test func finiteButAbsurdCoordinatesAreImplausible() {
        let model = StreamModel()
        #expect(verdict(model, 1e308, 5) == .implausible && verdict(model, 5, 20_001) == .implausible)
        #expect(verdict(model, 20_000, 0) == .observed)
        #expect(verdict(model, -1e308, 5) == .lost)  // the loss rule speaks first
        #expect(verdict(StreamModel(loss: .none), -1e308, 5) == .implausible)
        #expect(verdict(StreamModel(plausible: nil), 1e308, 5) == .observed)
        #expect(PlausibleRange("-5, 7") == PlausibleRange(lower: -5, upper: 7))
        for bad in ["5", "7,5", "1,1", "0,inf", "0,1e13", "a,b", "1,2,3"] { #expect(PlausibleRange(bad) == nil, "\(bad)") }
    }

    @Test func timeMapsToStepsByOneRule() {
        let plain = StreamModel(resetAfterSeconds: 2)
        #expect(StreamClock.advance(from: 10, to: 10.5, model: plain) == .next(bridged: 0))
        #expect(StreamClock.advance(from: 10, to: 9, model: plain) == .stale)
        #expect(StreamClock.advance(from: 10, to: 7.9, model: plain) == .restart(.clockRestart))
        #expect(StreamClock.advance(from: 10, to: 12.1, model: plain) == .restart(.silence))
        let rated = StreamModel(rateHz: 250, resetAfterSeconds: 2)
        #expect(StreamClock.advance(from: 0, to: 0.004, model: rated) == .next(bridged: 0))
        #expect(StreamClock.advance(from: 0, to: 0.0059, model: rated) == .next(bridged: 0))  // under 1.5 periods
        #expect(StreamClock.advance(from: 0, to: 0.016, model: rated) == .next(bridged: 3))
        #expect(StreamClock.advance(from: 0, to: 1.5, model: rated) == .next(bridged: 374))
        #expect(rated.maximumBridgedSteps == 500)
        let capped = StreamModel(rateHz: 100_000, resetAfterSeconds: 86_400)
        #expect(capped.maximumBridgedSteps == 1_000)  // max_bridged_steps
        #expect(StreamClock.advance(from: 0, to: 2, model: capped) == .restart(.gapBeyondBridging))
    }

    @Test func csvCellsReadOneWay() {
        func cell(_ text: String) -> CSVNumber.Cell { CSVNumber.parse(ArraySlice(Array(text.utf8))) }
        #expect(cell(" 1.5 ") == .number(1.5) && cell("-2e3\r") == .number(-2000) && cell("1e308") == .number(1e308))
        #expect(cell("NaN") == .notANumber && cell("nan") == .notANumber && cell("  ") == .empty && cell("") == .empty)
        for bad in ["1e999", "inf", "-infinity", "0x10", "1,5", "abc", "1.5.", String(repeating: "1", count: 64)] {
            #expect(cell(bad) == .invalid, "\(bad)")
        }
    }

    @Test func pathsOfAStream() {
        #expect(StreamPaths.parameters("lab1", in: "p") == "p/lab1.json")
        #expect(StreamPaths.parameters("lab1", in: "/var/p/") == "/var/p/lab1.json")
        #expect(StreamPaths.previousParameters("lab1", in: "p") == "p/lab1.prev.json")
        #expect(StreamPaths.lock("lab1", in: "p") == "p/.lab1.lock")
        #expect(StreamPaths.recording("lab1", date: "2026-11-25", in: "r") == "r/lab1/2026-11-25.csv")
        #expect(StreamPaths.isRecordingName("2026-11-25.csv") && !StreamPaths.isRecordingName("2026-13-25.csv"))
    }

    /// Every kind of path: relative without a slash (the SIGILL of issue 8), relative with
    /// parents, `./` and `../`, absolute, trailing slashes, existing or not; a file in the way is named.
    @Test func directoriesAreMadeFromAnyPath() throws {
        let root = makeTemporaryDirectory("dirs")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let previous = FileManager.default.currentDirectoryPath
        #expect(FileManager.default.changeCurrentDirectoryPath(root))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }
        for path in ["p", "p", "a/b/c", "a/b/c/", "./d", "e//f", "a/../g", root + "/h/i", root + "/h/i/", "/"] {
            try FileSystem.createDirectory(path)
            var isDirectory: ObjCBool = false
            #expect(FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue, "\(path)")
        }
        try "x".write(toFile: root + "/file", atomically: true, encoding: .utf8)
        #expect(throws: GazeFileError(path: "file", "exists and is not a directory")) { try FileSystem.createDirectory("file") }
        #expect(throws: GazeFileError.self) { try FileSystem.createDirectory("file/below") }
        #expect(throws: GazeFileError.self) { try FileSystem.createDirectory("") }
    }
}
