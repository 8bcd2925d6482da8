import Foundation
import FledgeWeights

/// The draft model's reduced vocabulary (docs/design.md §2.8, §5.7).
///
/// `d2t[i]` is the offset from draft index `i` to its target id (`target = i + d2t[i]`);
/// `t2d[j]` says whether target id `j` is in the draft vocabulary. Draft indices follow
/// ascending target ids, so `target_logits[..., t2d]` is in draft order.
public struct DraftVocabulary: Sendable, Equatable {
    public let d2t: [Int64]
    public let t2d: [Bool]

    /// The draft vocabulary size Vd.
    public var draftSize: Int { d2t.count }
    /// The target vocabulary size V.
    public var targetSize: Int { t2d.count }

    /// Target id of each draft index, ascending.
    public var targetIDs: [Int32] { d2t.enumerated().map { Int32(Int64($0.offset) + $0.element) } }

    public init(d2t: [Int64], t2d: [Bool]) throws {
        guard d2t.count == t2d.filter({ $0 }).count else {
            throw DataError(
                .invalidVocabulary, "d2t has \(d2t.count) entries but t2d marks \(t2d.filter { $0 }.count) tokens")
        }
        var previous = -1
        for (index, offset) in d2t.enumerated() {
            let (sum, overflow) = Int64(index).addingReportingOverflow(offset)
            let target = overflow || sum < 0 || sum >= Int64(t2d.count) ? -1 : Int(sum)
            guard target > previous, target < t2d.count, t2d[target] else {
                throw DataError(
                    .invalidVocabulary,
                    "d2t[\(index)] = \(offset) does not map to an increasing target id marked in t2d")
            }
            previous = target
        }
        self.d2t = d2t
        self.t2d = t2d
    }

    /// The top-`draftSize` tokens by count (ties broken by the lower token id); when fewer
    /// than `draftSize` tokens were seen, the lowest unused ids fill the rest.
    /// - Throws: when `draftSize` exceeds the target vocabulary.
    public static func build(counts: [Int], draftSize: Int) throws -> DraftVocabulary {
        let vocabulary = counts.count
        guard draftSize >= 1, draftSize <= vocabulary else {
            throw DataError(
                .invalidVocabulary,
                "draft vocabulary size \(draftSize) must be between 1 and the target's \(vocabulary)")
        }
        let seen = (0..<vocabulary).filter { counts[$0] > 0 }.sorted {
            counts[$0] != counts[$1] ? counts[$0] > counts[$1] : $0 < $1
        }
        var chosen = Set(seen.prefix(draftSize))
        var next = 0
        while chosen.count < draftSize {
            if !chosen.contains(next) { chosen.insert(next) }
            next += 1
        }
        let used = chosen.sorted()
        var t2d = [Bool](repeating: false, count: vocabulary)
        for id in used { t2d[id] = true }
        return try DraftVocabulary(d2t: used.enumerated().map { Int64($0.element - $0.offset) }, t2d: t2d)
    }

    /// The draft index of target id `token`, or nil when it is outside the draft vocabulary.
    public func draftIndex(ofTarget token: Int) -> Int? {
        guard token >= 0, token < t2d.count, t2d[token] else { return nil }
        var low = 0
        var high = d2t.count - 1
        while low <= high {
            let middle = (low + high) / 2
            let target = middle + Int(d2t[middle])
            if target == token { return middle }
            if target < token { low = middle + 1 } else { high = middle - 1 }
        }
        return nil
    }

    // MARK: files

    /// Writes `d2t.npy`, `t2d.npy` and `vocab.safetensors` (`d2t` I64, `t2d` BOOL) into `directory`.
    public func write(to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try AtomicFile.write(NumPy.array(int64: d2t), to: directory.appendingPathComponent("d2t.npy"))
        try AtomicFile.write(NumPy.array(bool: t2d), to: directory.appendingPathComponent("t2d.npy"))
        try SafetensorsWriter().write(
            [.init(name: "d2t", int64: d2t), .init(name: "t2d", bools: t2d)],
            metadata: ["format": "fledge-vocab", "version": "1"],
            to: directory.appendingPathComponent("vocab.safetensors"))
    }

    /// Reads `d2t`/`t2d` from two `.npy` files or from one safetensors file holding both.
    /// - Parameter targetSize: the target vocabulary; a mapping of another size is refused.
    public static func load(d2t: URL, t2d: URL? = nil, targetSize: Int? = nil) throws -> DraftVocabulary {
        let vocabulary: DraftVocabulary
        if d2t.pathExtension == "safetensors" {
            let file = try SafetensorsFile(url: d2t)
            vocabulary = try DraftVocabulary(
                d2t: try file.integers("d2t"), t2d: try file.integers("t2d").map { $0 != 0 })
        } else {
            guard let t2d else {
                throw DataError(.invalidVocabulary, "\(d2t.path): a .npy d2t needs its t2d file too (--t2d-path)")
            }
            vocabulary = try DraftVocabulary(d2t: try NumPy.readInt64(d2t), t2d: try NumPy.readBool(t2d))
        }
        if let targetSize, vocabulary.targetSize != targetSize {
            throw DataError(
                .invalidVocabulary,
                "\(d2t.path): t2d covers \(vocabulary.targetSize) target tokens but the target has \(targetSize)",
                hint: "the mapping was built for another model; rebuild it with fledge vocab")
        }
        return vocabulary
    }
}

extension DraftVocabulary {
    /// How much of a dataset's trained tokens a draft vocabulary covers.
    public struct Coverage: Sendable, Equatable {
        public var samples: Int
        /// Tokens with loss mask 1, and how many distinct target ids they are.
        public var trainedTokens: Int
        public var distinctTokens: Int
        /// Trained tokens inside the draft vocabulary.
        public var coveredTokens: Int

        /// `coveredTokens / trainedTokens` (0 without trained tokens).
        public var fraction: Double { Double(coveredTokens) / Double(max(trainedTokens, 1)) }
    }

    /// The vocabulary of the trained tokens of `dataset` (``build(counts:draftSize:)`` of their
    /// counts over a target vocabulary of `vocabularySize`) and how much of them it covers.
    public static func build(
        dataset: TokenizedDataset, vocabularySize: Int,
        draftSize: Int
    ) throws -> (vocabulary: DraftVocabulary, coverage: Coverage) {
        let counts = dataset.maskedTokenCounts(vocabularySize: vocabularySize)
        let vocabulary = try build(counts: counts, draftSize: draftSize)
        let coverage = Coverage(
            samples: dataset.samples.count, trainedTokens: dataset.maskedCount,
            distinctTokens: counts.filter { $0 > 0 }.count,
            coveredTokens: vocabulary.targetIDs.reduce(0) { $0 + counts[Int($1)] })
        return (vocabulary, coverage)
    }
}
