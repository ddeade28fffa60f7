import GazeKit
import LinearDynamics

/// Data for `scripts/bench refit`: an hour of 250 Hz gaze in the daemon's recording format.
enum RefitBenchmarks {
    /// Writes `samples` samples of fixations and saccades over a 1024×768 screen, with
    /// tracker noise and 3% lost samples (-1), as `path` (header `t,x,y`).
    static func writeRecording(samples: Int, rate: Double, seed: UInt64, path: String) throws {
        var generator = SeededGenerator(seed: seed)
        var text = "t,x,y\n"
        text.reserveCapacity(samples * 48)
        var target = (x: 512.0, y: 384.0), gaze = target
        var remaining = 0
        for index in 0..<samples {
            if remaining == 0 {
                target = (80 + generator.nextUniform() * 864, 60 + generator.nextUniform() * 648)
                remaining = Int((0.2 + generator.nextUniform() * 0.3) * rate)
            }
            remaining -= 1
            gaze.x += 0.3 * (target.x - gaze.x) + generator.nextStandardNormal() * 1.5
            gaze.y += 0.3 * (target.y - gaze.y) + generator.nextStandardNormal() * 1.5
            let lost = generator.nextUniform() < 0.03
            let x = lost ? -1 : gaze.x + generator.nextStandardNormal() * 5
            let y = lost ? -1 : gaze.y + generator.nextStandardNormal() * 5
            text += "\(Double(index) / rate),\(x),\(y)\n"
        }
        try AtomicFile.write(text: text, to: path)
    }
}
