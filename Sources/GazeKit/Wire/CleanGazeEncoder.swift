/// Writes the cleaned estimate JSON of the wire contract into a reusable buffer:
/// `{"t":…,"x":…,"y":…,"cov":[[…],[…]],"state":[…],"masked":false,"seq":N}`; a binocular
/// stream's also has, before `masked`, `"eyes":{"lx":…,"ly":…,"rx":…,"ry":…,"left_observed":…,"right_observed":…}`
/// (each eye's prediction, and whether the sample used it).
///
/// Numbers are Swift's shortest round-trip form (read back exactly by any JSON parser),
/// written through `TextOutputStream._writeASCII` so no String is made: after the first
/// message the encoder allocates nothing. A non-finite number is written as `null`.
public struct CleanGazeEncoder: Sendable {
    /// The last message's bytes.
    public private(set) var bytes: [UInt8] = []

    /// An encoder with room for typical messages.
    public init() { bytes.reserveCapacity(512) }

    /// Encodes one estimate, replacing the previous message.
    /// - Parameters:
    ///   - estimate: H·mean; its first two values are x and y.
    ///   - covariance: H·Σ·Hᵀ, m×m row-major; written as nested rows.
    ///   - state: the full filtered state mean.
    public mutating func encode(t: Double, estimate: UnsafeBufferPointer<Double>, covariance: UnsafeBufferPointer<Double>,
                                state: UnsafeBufferPointer<Double>, masked: Bool, sequence: UInt64) {
        encode(t: t, estimate: estimate, covariance: covariance, state: state, eyes: UnsafeBufferPointer(start: nil, count: 0),
               unusedEyes: 0, masked: masked, sequence: sequence)
    }

    /// Encodes one estimate as a stream publishes it (`GazeEstimate`), replacing the previous message.
    public mutating func encode(_ estimate: GazeEstimate) {
        encode(t: estimate.time, estimate: estimate.mean, covariance: estimate.covariance, state: estimate.state,
               eyes: estimate.eyes, unusedEyes: estimate.unusedEyes, masked: estimate.masked, sequence: estimate.sequence)
    }

    /// Encodes one estimate; `eyes` (lx, ly, rx, ry predicted) empty for a monocular stream,
    /// whose message then has no `eyes` field.
    mutating func encode(t: Double, estimate: UnsafeBufferPointer<Double>, covariance: UnsafeBufferPointer<Double>,
                         state: UnsafeBufferPointer<Double>, eyes: UnsafeBufferPointer<Double>, unusedEyes: UInt8,
                         masked: Bool, sequence: UInt64) {
        bytes.removeAll(keepingCapacity: true)
        append("{\"t\":")
        number(t)
        append(",\"x\":")
        number(estimate.count > 0 ? estimate[0] : .nan)
        append(",\"y\":")
        number(estimate.count > 1 ? estimate[1] : .nan)
        append(",\"cov\":[")
        let m = estimate.count
        for i in 0..<m {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(UInt8(ascii: "["))
            for j in 0..<m {
                if j > 0 { bytes.append(UInt8(ascii: ",")) }
                number(covariance[i * m + j])
            }
            bytes.append(UInt8(ascii: "]"))
        }
        append("],\"state\":[")
        for (index, value) in state.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            number(value)
        }
        bytes.append(UInt8(ascii: "]"))
        if eyes.count == 4 {
            append(",\"eyes\":{\"lx\":")
            number(eyes[0])
            append(",\"ly\":")
            number(eyes[1])
            append(",\"rx\":")
            number(eyes[2])
            append(",\"ry\":")
            number(eyes[3])
            append(unusedEyes & 1 == 0 ? ",\"left_observed\":true" : ",\"left_observed\":false")
            append(unusedEyes & 2 == 0 ? ",\"right_observed\":true}" : ",\"right_observed\":false}")
        }
        append(masked ? ",\"masked\":true,\"seq\":" : ",\"masked\":false,\"seq\":")
        integer(sequence)
        bytes.append(UInt8(ascii: "}"))
    }

    @inline(__always) private mutating func append(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    @inline(__always) private mutating func number(_ value: Double) {
        guard value.isFinite else { append("null"); return }
        ASCIISink.append(to: &bytes) { value.write(to: &$0) }
    }

    private mutating func integer(_ value: UInt64) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[19 - count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                count += 1
            } while rest > 0
            bytes.append(contentsOf: buffer[(20 - count)...])
        }
    }
}

/// Collects the ASCII that `Double.write(to:)` produces, without making Strings.
struct ASCIISink: TextOutputStream {
    var bytes: [UInt8]

    /// Lets `body` write into `bytes` in place: the buffer moves into a sink and back, so it
    /// stays uniquely owned and appending never copies or reallocates it (within capacity).
    @inline(__always)
    static func append(to bytes: inout [UInt8], _ body: (inout ASCIISink) -> Void) {
        var sink = ASCIISink(bytes: bytes)
        bytes = []
        body(&sink)
        bytes = sink.bytes
    }

    mutating func write(_ string: String) { bytes.append(contentsOf: string.utf8) }
    mutating func _writeASCII(_ buffer: UnsafeBufferPointer<UInt8>) { bytes.append(contentsOf: buffer) }
    mutating func append(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }
}

/// Writes the raw sample JSON `{"t":…,"x":…,"y":…}` into a reusable buffer, for replay
/// tools and load generators (numbers in shortest round-trip form, no allocation per message).
public struct RawGazeEncoder: Sendable {
    /// The last message's bytes.
    public private(set) var bytes: [UInt8] = []

    public init() { bytes.reserveCapacity(96) }

    /// Encodes one sample, replacing the previous message: a binocular sample as
    /// `{"t":…,"lx":…,"ly":…,"rx":…,"ry":…}` (NaN written as `null`).
    public mutating func encode(_ sample: RawGazeSample) {
        bytes.removeAll(keepingCapacity: true)
        ASCIISink.append(to: &bytes) { sink in
            sink.append("{\"t\":")
            sample.t.write(to: &sink)
            guard sample.isBinocular else {
                sink.append(",\"x\":")
                sample.x.write(to: &sink)
                sink.append(",\"y\":")
                sample.y.write(to: &sink)
                sink.append("}")
                return
            }
            func field(_ key: StaticString, _ value: Double) {
                sink.append(key)
                if value.isNaN { sink.append("null") } else { value.write(to: &sink) }
            }
            field(",\"lx\":", sample.lx)
            field(",\"ly\":", sample.ly)
            field(",\"rx\":", sample.rx)
            field(",\"ry\":", sample.ry)
            sink.append("}")
        }
    }
}
