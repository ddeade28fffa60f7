import GazeKit
import LinearDynamics

/// Data for `scripts/bench refit`: an hour of 250 Hz gaze in the daemon's recording format,
/// drawn from issue 8's model (D = I, Q = [[4,1],[1,4]], H = I, R = [[50,10],[10,60]]) as a lab
/// records it: 8-second trials each starting at a random point of a 1920×1080 screen, blinks
/// (runs of samples written as -1), 2% of samples dropped by the tracker, 2–4 s pauses between
/// trials, and the tracker's clock restarting halfway.
enum RefitBenchmarks {
    /// Writes `samples` lines of samples as `path` (header `t,x,y`).
    static func writeRecording(samples: Int, rate: Double, seed: UInt64, path: String) throws {
        var generator = SeededGenerator(seed: seed)
        let q = (a: 2.0, b: 0.5, c: 1.936491673103709)  // Cholesky factor of [[4,1],[1,4]]
        let r = (a: 7.0710678118654755, b: 1.414213562373095, c: 7.615773105863909)  // of [[50,10],[10,60]]
        var text = "t,x,y\n"
        text.reserveCapacity(samples * 48)
        var written = 0, clock = 100.0, restarted = false
        while written < samples {
            if !restarted && written >= samples / 2 { clock = 0; restarted = true }
            var x = generator.nextUniform() * 1920, y = generator.nextUniform() * 1080
            var blink = 0
            for step in 0..<Int(8 * rate) where written < samples {
                let u = generator.nextStandardNormal(), v = generator.nextStandardNormal()
                if step > 0 { x += q.a * u; y += q.b * u + q.c * v }
                if blink == 0, generator.nextUniform() < 0.3 / rate { blink = 25 + Int(generator.nextUniform() * 20) }
                let e = generator.nextStandardNormal(), f = generator.nextStandardNormal()
                let dropped = step > 0 && generator.nextUniform() < 0.02
                defer { if blink > 0 { blink -= 1 } }
                if dropped { continue }
                let t = clock + Double(step) / rate
                if blink > 0 {
                    text += "\(t),-1,-1\n"
                } else {
                    text += "\(t),\(x + r.a * e),\(y + r.b * e + r.c * f)\n"
                }
                written += 1
            }
            clock += 8 + 2 + 2 * generator.nextUniform()
        }
        try AtomicFile.write(text: text, to: path)
    }
}
