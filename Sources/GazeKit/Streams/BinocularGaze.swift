/// The gaze of a binocular stream: one gaze state observed by both eyes (m = 4: lx, ly, rx,
/// ry), published as the point between the eyes, the cyclopean gaze.
///
/// With the eyes' rows of H (H_l, H_r) and offsets (d_l, d_r), the published position is
/// G·mu + g with G = (H_l + H_r)/2 and g = (d_l + d_r)/2, its covariance G·P·Gᵀ: the mean of
/// the two eyes' predictions and its exact covariance, computed from the eyes' estimate
/// (H·mu + d, H·P·Hᵀ) as A·e and A·C·Aᵀ with A = [I/2 I/2]. For H = [I; I] (each eye sees the
/// gaze position plus its own noise) it is the state's position itself.
public enum BinocularGaze {
    /// The components of a binocular sample, in order: the left eye's x and y, the right eye's.
    public static let columns = ["lx", "ly", "rx", "ry"]
    /// Each eye's confidence, in files and on the wire (`left_confidence`, `right_confidence`).
    public static let confidenceColumns = ["left_confidence", "right_confidence"]

    /// The cyclopean position (2 values) and its covariance (2×2, row-major) from the eyes'
    /// estimate (4 values, lx, ly, rx, ry) and its covariance (4×4). Allocates nothing.
    @inline(__always)
    public static func cyclopean(eyes: UnsafeBufferPointer<Double>, covariance: UnsafeBufferPointer<Double>,
                                 into mean: UnsafeMutableBufferPointer<Double>, covariance gazeCovariance: UnsafeMutableBufferPointer<Double>) {
        precondition(eyes.count == 4 && covariance.count == 16 && mean.count == 2 && gazeCovariance.count == 4,
                     "cyclopean gaze buffers have the wrong sizes")
        // Each term halved (quartered) before the sum, so that eyes near the largest finite number
        // do not overflow into a gaze that is not.
        for i in 0..<2 {
            mean[i] = 0.5 * eyes[i] + 0.5 * eyes[i + 2]
            for j in 0..<2 {
                gazeCovariance[i * 2 + j] = 0.25 * covariance[i * 4 + j] + 0.25 * covariance[i * 4 + j + 2]
                    + 0.25 * covariance[(i + 2) * 4 + j] + 0.25 * covariance[(i + 2) * 4 + j + 2]
            }
        }
    }
}

/// One estimate as a stream publishes it (`gaze.clean.<stream>`, `gaze.smooth.<stream>`):
/// the gaze in observation space and its covariance, the state, and for a binocular stream
/// each eye's prediction and which eyes the sample used. Views of the filter's storage, valid
/// only inside the call that hands them out.
public struct GazeEstimate {
    /// The sample's time and `seq`, and whether it was masked (no eye used).
    public var time: Double, sequence: UInt64, masked: Bool
    /// The published gaze: H·mean + d (monocular; x and y for gaze), or the cyclopean gaze (binocular, 2 values).
    public var mean: UnsafeBufferPointer<Double>
    /// Its covariance, row-major (m×m, or 2×2 for binocular).
    public var covariance: UnsafeBufferPointer<Double>
    /// The state mean (n values; NaN where not known yet).
    public var state: UnsafeBufferPointer<Double>
    /// Binocular streams: each eye's prediction H·mean + d (lx, ly, rx, ry); empty otherwise.
    public var eyes: UnsafeBufferPointer<Double>
    /// The eyes the sample did not use, as bits (1 left, 2 right); `SampleJudgement.unusedEyes`.
    public var unusedEyes: UInt8
}
