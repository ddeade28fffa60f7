// libFuzzer targets for every reader of untrusted bytes: the wire decoders (JSON, Pupil's msgpack), the observation CSV
// and recording readers, the parameter, config and key-file readers. Built by `scripts/fuzz`
// with `swiftc -sanitize=fuzzer,address` (not a SwiftPM target: SwiftPM has no sanitizer
// per target); one binary, the target chosen by $GAZEFILTER_FUZZ_TARGET.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import CommandLineSupport
import GazeFilterConfiguration
import GazeKit
import GazeRefit

/// The targets by name: each takes one input and must never crash, whatever the bytes.
let targets: [String: (UnsafeRawBufferPointer) -> Void] = [
    "raw-gaze": { bytes in _ = try? RawGazeDecoder.decode(bytes); _ = try? RawGazeDecoder.decode(bytes, binocular: true) },
    // Pupil's msgpack: the first byte picks gaze or surface datums, the rest is the payload.
    "pupil-msgpack": { bytes in
        guard let first = bytes.first else { return }
        let kind: PupilGazeDecoder.TopicKind = first & 1 == 0 ? .gaze : .surface
        _ = try? PupilGazeDecoder.decode(kind, payload: UnsafeRawBufferPointer(rebasing: bytes.dropFirst())) { _ in }
        _ = PupilEye.of(topic: bytes)
    },
    "observation-csv": { bytes in _ = try? ObservationFile.parse(bytes: Array(bytes), path: "fuzz.csv") },
    "parameter-file": { bytes in _ = try? ParameterFile.decode(Data(bytes), path: "fuzz.json") },
    "recording": { bytes in
        guard write(bytes, to: recordingPath) else { return }
        _ = try? RecordingReader.read(directory: scratch + "/stream", through: nil, maximumSamples: 100_000, model: StreamModel(resetAfterSeconds: 1))
        _ = try? RecordingReader.read(directory: scratch + "/stream", through: nil, maximumSamples: 100_000,
                                      model: StreamModel(resetAfterSeconds: 1, binocular: true))
    },
    "daemon-config": { bytes in
        guard write(bytes, to: configPath) else { return }
        _ = try? DaemonConfiguration.read(file: configPath)
    },
    "refit-config": { bytes in
        guard write(bytes, to: configPath) else { return }
        var options = ParsedOptions(command: "gazefit refit")
        options.set("config", to: configPath)
        _ = try? RefitConfiguration.load(options)
    },
    "key-file": { bytes in
        guard write(bytes, to: configPath) else { return }
        _ = try? CurveKeyFile.read(configPath)
    },
]

/// A private scratch directory for the targets that read files.
let scratch: String = {
    let path = "/tmp/gazefuzz-\(getpid())"
    mkdir(path, 0o700)
    mkdir(path + "/stream", 0o700)
    return path
}()
let recordingPath = scratch + "/stream/2026-01-01.csv"
let configPath = scratch + "/input"

/// Replaces `path` with `bytes`.
func write(_ bytes: UnsafeRawBufferPointer, to path: String) -> Bool {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    return bytes.count == 0 || write(descriptor, bytes.baseAddress, bytes.count) == bytes.count
}

nonisolated(unsafe) var selected: ((UnsafeRawBufferPointer) -> Void)?

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>) -> Int32 {
    let name = ProcessInfo.processInfo.environment["GAZEFILTER_FUZZ_TARGET"] ?? ""
    guard let target = targets[name] else {
        fputs("gazefuzz: set GAZEFILTER_FUZZ_TARGET to one of: \(targets.keys.sorted().joined(separator: ", "))\n", stderr)
        exit(2)
    }
    selected = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    selected?(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    return 0
}
