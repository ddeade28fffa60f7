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
    } catch {
        print("gazebench: \(error)")
    }
default:
    print("usage: gazebench core [--params P.json] [--em-steps N] [--em-iterations K] [--data-dir DIR]")
}
