import Foundation
import FledgeTemplate

/// Reads prepared conversations: a unified JSONL file (`{"id", "messages": [{role, content}]}`
/// per line, as `fledge data prepare` writes) or a prepared folder (its `train.jsonl`).
public enum ConversationFile {
    /// The conversations of `url` (a `.jsonl` file, or a folder with `train.jsonl` / `split`.jsonl).
    /// - Throws: ``DataError`` naming the file and line of a malformed record.
    public static func read(_ url: URL, split: String = "train") throws -> [Conversation] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw DataError(.invalidCache, "\(url.path): no such file or folder", hint: "prepare data with fledge data prepare")
        }
        let file = isDirectory.boolValue ? url.appendingPathComponent("\(split).jsonl") : url
        guard let data = try? Data(contentsOf: file) else {
            throw DataError(.invalidCache, "\(file.path): cannot read", hint: isDirectory.boolValue ? "is this a folder written by fledge data prepare?" : nil)
        }
        var conversations: [Conversation] = []
        var lineNumber = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
            do {
                conversations.append(try JSONDecoder().decode(Conversation.self, from: Data(line)))
            } catch {
                throw DataError(.invalidCache, "\(file.path):\(lineNumber): not a prepared conversation ({\"id\", \"messages\": [{\"role\", \"content\"}]})",
                                     hint: "prepare raw ShareGPT/OpenAI files with fledge data prepare first")
            }
        }
        return conversations
    }
}

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
                    base[index] = tokenizer.tokenize(id: conversations[index].id, messages: conversations[index].messages)
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
}
