import GazeKit
import Testing

@Suite struct GazeTopicTests {
    /// The stream name `GazeTopic.streamName(inRawTopic:)` finds in `text`.
    func rawTopic(_ text: String) throws -> String {
        try Array(text.utf8).withUnsafeBytes { String(decoding: try GazeTopic.streamName(inRawTopic: $0), as: UTF8.self) }
    }

    /// `<stream>.prev.json` is stream `<stream>`'s backup, so no stream may be called `<stream>.prev`.
    @Test func namesEndingInPrevAreReserved() throws {
        #expect(GazeTopic.problem(name: "lab.prev") == .streamNameReserved)
        #expect(GazeTopic.problem(name: "a.b.prev") == .streamNameReserved)
        #expect(!GazeTopic.isValid(name: "lab.prev"))
        #expect(throws: GazeWireError.streamNameReserved) { try rawTopic("gaze.raw.lab.prev") }
        #expect(GazeWireError.streamNameReserved.description.contains(".prev"))
        for allowed in ["prev", "lab.previous", "lab.prev.1", "lab_prev", "lab-prev", "a.prevx"] {
            #expect(GazeTopic.problem(name: allowed) == nil, "\(allowed)")
            #expect(try rawTopic("gaze.raw." + allowed) == allowed)
        }
        #expect(GazeTopic.problem(name: ".prev") == .streamNameCharacter)
        #expect(GazeTopic.problem(name: "") == .streamNameLength(0))
    }
}
