import Foundation

/// Tokenised conversations with counts of what was skipped and why.
public struct TokenizedDataset: Sendable {
    public var samples: [TokenizedSample]
    public var skipped: [TokenizationSkip: Int]
    public var truncated: Int

    /// Tokenises `conversations` on all cores (the result keeps the input order).
    public static func make(_ conversations: [Conversation], tokenizer: ConversationTokenizer) -> TokenizedDataset {
        var results = [Result<TokenizedSample, TokenizationSkip>?](repeating: nil, count: conversations.count)
        let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)
        results.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                var index = worker
                while index < conversations.count {
                    base[index] = tokenizer.tokenize(
                        id: conversations[index].id, messages: conversations[index].messages)
                    index += workers
                }
            }
        }
        var dataset = TokenizedDataset(samples: [], skipped: [:], truncated: 0)
        for result in results {
            switch result! {
            case .success(let sample):
                dataset.samples.append(sample)
                if sample.truncated { dataset.truncated += 1 }
            case .failure(let reason): dataset.skipped[reason, default: 0] += 1
            }
        }
        return dataset
    }

    /// The first `maxSamples` samples of `conversations` (all of them when nil), tokenizing
    /// only as many conversations as it takes (in growing slices), not the whole set; the skip
    /// and truncation counts cover the conversations read.
    public static func make(
        _ conversations: [Conversation], tokenizer: ConversationTokenizer, maxSamples: Int?
    ) -> TokenizedDataset {
        guard let maxSamples else { return make(conversations, tokenizer: tokenizer) }
        var dataset = TokenizedDataset(samples: [], skipped: [:], truncated: 0)
        var start = 0
        while dataset.samples.count < maxSamples, start < conversations.count {
            let end = min(conversations.count, start + max(16, 2 * (maxSamples - dataset.samples.count)))
            let part = make(Array(conversations[start..<end]), tokenizer: tokenizer)
            dataset.samples += part.samples
            dataset.truncated += part.truncated
            dataset.skipped.merge(part.skipped, uniquingKeysWith: +)
            start = end
        }
        if dataset.samples.count > maxSamples {
            dataset.truncated -= dataset.samples[maxSamples...].filter(\.truncated).count
            dataset.samples.removeLast(dataset.samples.count - maxSamples)
        }
        return dataset
    }

    /// Masked-token counts per target id (the input of ``DraftVocabulary/build(counts:draftSize:)``).
    public func maskedTokenCounts(vocabularySize: Int) -> [Int] {
        var counts = [Int](repeating: 0, count: vocabularySize)
        for sample in samples {
            for (id, mask) in zip(sample.ids, sample.lossMask) where mask == 1 { counts[Int(id)] += 1 }
        }
        return counts
    }

    /// Total tokens and masked tokens.
    public var tokenCount: Int { samples.reduce(0) { $0 + $1.ids.count } }
    public var maskedCount: Int { samples.reduce(0) { $0 + $1.maskedCount } }

    /// Sample lengths in tokens (``lengthStatistics``).
    public struct LengthStatistics: Sendable, Equatable {
        /// Samples of `low..<high` tokens (`high` nil: `low` or more).
        public struct Bucket: Sendable, Equatable {
            public var low: Int
            public var high: Int?
            public var count: Int
        }

        public var minimum: Int
        /// The lengths at rank count/2 and count·9/10 of the sorted lengths.
        public var median: Int
        public var p90: Int
        public var maximum: Int
        /// The non-empty buckets of 0–127, 128–255, 256–511, …, 2048–4095, 4096+, in order.
        public var buckets: [Bucket]
    }

    /// Lengths of the samples, or nil when there are none.
    public var lengthStatistics: LengthStatistics? {
        let lengths = samples.map(\.ids.count).sorted()
        guard let longest = lengths.last else { return nil }
        let edges = [0, 128, 256, 512, 1024, 2048, 4096, Int.max]
        var buckets: [LengthStatistics.Bucket] = []
        for (low, high) in zip(edges, edges.dropFirst()) {
            let count = lengths.filter { $0 >= low && $0 < high }.count
            guard count > 0 else { continue }
            buckets.append(.init(low: low, high: high == Int.max ? nil : high, count: count))
        }
        return LengthStatistics(
            minimum: lengths[0], median: lengths[lengths.count / 2],
            p90: lengths[lengths.count * 9 / 10], maximum: longest, buckets: buckets)
    }
}
