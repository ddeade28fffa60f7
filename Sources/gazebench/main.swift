import GazeKit

// gazebench core --params P.json --em-steps N --em-iterations K [--data-dir DIR]
// Prints `key value` lines; scripts/bench puts them beside pykalman's.
let arguments = Array(CommandLine.arguments.dropFirst())
func option(_ name: String) -> String? {
    guard let index = arguments.firstIndex(of: "--" + name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}
switch arguments.first {
case "core":
    do {
        let parameters = try ParameterFile.read(option("params") ?? "config/params/default.json").parameters
        CoreBenchmarks.run(parameters: parameters, emSteps: Int(option("em-steps") ?? "") ?? 20_000,
                           emIterations: Int(option("em-iterations") ?? "") ?? 10, dataDirectory: option("data-dir"))
        if let samples = option("em-hour-samples").flatMap(Int.init) {
            EMBenchmarks.run(samples: samples, tolerancePerSample: Double(option("em-tolerance") ?? "") ?? 1e-7,
                             maximumIterations: Int(option("em-max-iterations") ?? "") ?? 2000)
        }
    } catch {
        print("gazebench: \(error)")
    }
case "recording":
    do {
        try RefitBenchmarks.writeRecording(samples: Int(option("samples") ?? "") ?? 900_000, rate: Double(option("rate") ?? "") ?? 250,
                                           seed: 1, path: option("output")!)
    } catch {
        print("gazebench: \(error)")
    }
case "allocations":
    do {
        try AllocationCheck.run(samples: Int(option("samples") ?? "") ?? 50_000, control: arguments.contains("--control"),
                                pupil: option("source") == "pupil")
    } catch {
        print("gazebench: \(error)")
    }
case "forwarder":
    do { try DaemonBenchmarks.forwarder(input: option("input")!, output: option("output")!) } catch { print("gazebench: \(error)") }
case "load":
    do {
        let report = try DaemonBenchmarks.load(
            input: option("input")!, output: option("output")!, streams: Int(option("streams") ?? "") ?? 8,
            rate: option("rate").flatMap(Double.init), seconds: Double(option("seconds") ?? "") ?? 60,
            total: Int(option("total") ?? "") ?? 400_000, pid: option("pid").flatMap(Int32.init), pupilRemote: option("pupil-remote"))
        report.print(prefix: option("prefix") ?? "load")
    } catch {
        print("gazebench: \(error)")
    }
case "soak":
    do {
        var settings = SoakBenchmark.Settings(input: option("input")!, output: option("output")!, pid: Int32(option("pid")!)!)
        if let value = option("minutes").flatMap(Int.init) { settings.minutes = value }
        if let value = option("streams").flatMap(Int.init) { settings.streams = value }
        if let value = option("rate").flatMap(Double.init) { settings.rate = value }
        if let value = option("reload-every").flatMap(Double.init) { settings.reloadEvery = value }
        if let value = option("refit-every").flatMap(Double.init) { settings.refitEvery = value }
        settings.refitCommand = option("refit-command")
        try SoakBenchmark.run(settings)
    } catch {
        print("gazebench: \(error)")
    }
default:
    print("""
        usage: gazebench core [--params P.json] [--em-steps N] [--em-iterations K] [--data-dir DIR]
                              [--em-hour-samples N [--em-tolerance NATS_PER_SAMPLE] [--em-max-iterations K]]
               gazebench recording --output FILE [--samples N] [--rate HZ]
               gazebench allocations [--samples N] [--control] [--source json|pupil]   (under LD_PRELOAD=libc_malloc_debug.so.0 MALLOC_TRACE=FILE)
               gazebench forwarder --input E --output E
               gazebench load --input E --output E [--streams 8] [--rate HZ --seconds S | --total N] [--pid P] [--prefix NAME]
                              [--pupil-remote tcp://127.0.0.1:PORT]   (play Pupil Capture: streams bench<i> on topics gaze.bench<i>.)
               gazebench soak --input E --output E --pid P [--minutes 30] [--streams 8] [--rate 1000] [--reload-every 60]
                              [--refit-every 600] [--refit-command CMD]
        """)
}
