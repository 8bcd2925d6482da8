import Foundation

/// One conversation as token ids with its loss mask (1 = a token the draft learns to predict).
public struct TokenizedSample: Sendable, Equatable, Codable {
    public var id: String
    public var ids: [Int32]
    public var lossMask: [UInt8]
    /// Whether `--max-length` cut the sample.
    public var truncated: Bool

    public init(id: String, ids: [Int32], lossMask: [UInt8], truncated: Bool = false) {
        precondition(ids.count == lossMask.count, "ids and loss mask differ in length")
        self.id = id
        self.ids = ids
        self.lossMask = lossMask
        self.truncated = truncated
    }

    /// Tokens with mask 1.
    public var maskedCount: Int { lossMask.reduce(0) { $0 + Int($1) } }

    /// The sample cut into runs of equal mask value, in order: each run's ids and whether they
    /// are trained (decoding a run at a time keeps multi-byte characters whole).
    public var maskRuns: [(ids: ArraySlice<Int32>, trained: Bool)] {
        var runs: [(ids: ArraySlice<Int32>, trained: Bool)] = []
        var start = 0
        while start < ids.count {
            var end = start
            while end < ids.count && lossMask[end] == lossMask[start] { end += 1 }
            runs.append((ids[start..<end], lossMask[start] == 1))
            start = end
        }
        return runs
    }
}
