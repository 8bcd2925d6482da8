import Foundation

// Byte-pair encoding of one pre-tokenized word, as `tokenizers` does it
// (`tokenizers/src/models/bpe/model.rs` `merge_word` and `word.rs` `merge_all`, v0.23):
// the word starts as one symbol per scalar (unknown scalars become `<0xXX>` byte tokens with
// byte fallback, or the unknown token), then the adjacent pair with the lowest merge rank is
// merged, leftmost first among equal ranks, until no pair has a merge. A binary heap holds the
// candidate merges; entries made stale by an earlier merge are skipped when popped.

/// A BPE model: vocabulary, merge ranks and a cache of encoded words.
final class BPE: @unchecked Sendable {
    /// Token string → id.
    let vocabulary: [String: Int32]
    /// Merge table: `(left << 32 | right)` → `(rank << 32 | merged id)`.
    private let merges: [UInt64: UInt64]
    /// Ids of single-scalar tokens below U+0200 (the whole byte-level alphabet), -1 when absent.
    private let lowScalarIDs: [Int32]
    /// Ids of `<0x00>`...`<0xFF>`, -1 when absent.
    private let byteIDs: [Int32]
    private let unknownID: Int32?
    private let byteFallback: Bool
    private let fuseUnknown: Bool
    private let ignoreMerges: Bool

    private var cache: [WordKey: [Int32]] = [:]
    private let cacheLock = NSLock()
    private static let cacheCapacity = 200_000
    private static let cachedWordLength = 64

    /// A model whose merge ranks are the positions in `merges` (a later duplicate wins, as in `tokenizers`).
    /// - Throws: `TokenizerError.malformed` when a merge names a token missing from the vocabulary.
    convenience init(
        vocabulary: [String: Int32], merges: [(String, String)], unknownToken: String?,
        byteFallback: Bool, fuseUnknown: Bool, ignoreMerges: Bool
    ) throws {
        var table: [UInt64: UInt64] = [:]
        table.reserveCapacity(merges.count)
        for (rank, (left, right)) in merges.enumerated() {
            guard let a = vocabulary[left], let b = vocabulary[right] else {
                throw TokenizerError.malformed("merge \"\(left) \(right)\" uses a token missing from the vocabulary")
            }
            guard let merged = vocabulary[left + right] else {
                throw TokenizerError.malformed("merge \"\(left) \(right)\" makes a token missing from the vocabulary")
            }
            table[BPE.pairKey(a, b)] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: merged))
        }
        try self.init(
            vocabulary: vocabulary, mergeTable: table, unknownToken: unknownToken, byteFallback: byteFallback,
            fuseUnknown: fuseUnknown, ignoreMerges: ignoreMerges)
    }

    /// A model with a prepared merge table (`(left << 32 | right)` → `(rank << 32 | merged id)`).
    /// - Throws: `TokenizerError.malformed` when `unknownToken` is not in the vocabulary.
    init(
        vocabulary: [String: Int32], mergeTable: [UInt64: UInt64], unknownToken: String?,
        byteFallback: Bool, fuseUnknown: Bool, ignoreMerges: Bool
    ) throws {
        self.vocabulary = vocabulary
        merges = mergeTable
        var low = [Int32](repeating: -1, count: 0x200)
        var bytes = [Int32](repeating: -1, count: 256)
        for (token, id) in vocabulary {
            let scalars = token.unicodeScalars
            if scalars.count == 1, let scalar = scalars.first, scalar.value < 0x200 { low[Int(scalar.value)] = id }
            if scalars.count == 6, token.hasPrefix("<0x"), token.hasSuffix(">"),
                let byte = UInt8(String(token.dropFirst(3).prefix(2)), radix: 16),
                token == String(format: "<0x%02X>", byte)
            {
                bytes[Int(byte)] = id
            }
        }
        lowScalarIDs = low
        byteIDs = bytes
        if let unknownToken {
            guard let id = vocabulary[unknownToken] else {
                throw TokenizerError.malformed("the unknown token \"\(unknownToken)\" is not in the vocabulary")
            }
            unknownID = id
        } else {
            unknownID = nil
        }
        self.byteFallback = byteFallback
        self.fuseUnknown = fuseUnknown
        self.ignoreMerges = ignoreMerges
    }

    @inline(__always)
    static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// The ids of one word (a piece after pre-tokenization).
    func encode(_ word: [Unicode.Scalar]) -> [Int32] {
        var ids: [Int32] = []
        encode(word[...], byteLevel: false, into: &ids)
        return ids
    }

    /// Appends the ids of one word, first written in the byte-level alphabet when `byteLevel`.
    /// Complexity: O(n log n) in the word's length on a cache miss.
    func encode(_ word: ArraySlice<Unicode.Scalar>, byteLevel: Bool, into ids: inout [Int32]) {
        let cacheable = word.count <= BPE.cachedWordLength
        if cacheable {
            let key = WordKey(word, byteLevel: byteLevel)
            cacheLock.lock()
            let hit = cache[key]
            cacheLock.unlock()
            if let hit {
                ids.append(contentsOf: hit)
                return
            }
        }
        let encoded = encodeUncached(byteLevel ? ByteLevel.encode(word) : Array(word))
        ids.append(contentsOf: encoded)
        if cacheable {
            let key = WordKey(ArraySlice(Array(word)), byteLevel: byteLevel)  // own copy: never pin the text
            cacheLock.lock()
            if cache.count >= BPE.cacheCapacity { cache.removeAll(keepingCapacity: true) }
            cache[key] = encoded
            cacheLock.unlock()
        }
    }

    private func encodeUncached(_ word: [Unicode.Scalar]) -> [Int32] {
        if ignoreMerges, let id = vocabulary[string(word)] { return [id] }
        var symbols = initialSymbols(word)
        if symbols.count > 1 { mergeAll(&symbols) }
        return symbols
    }

    /// One id per scalar; unknown scalars become byte tokens (byte fallback) or the unknown token.
    private func initialSymbols(_ word: [Unicode.Scalar]) -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(word.count)
        var pendingUnknown = false
        for scalar in word {
            let id: Int32? =
                scalar.value < 0x200
                ? (lowScalarIDs[Int(scalar.value)] >= 0 ? lowScalarIDs[Int(scalar.value)] : nil)
                : vocabulary[String(scalar)]
            if let id {
                if pendingUnknown, let unknownID { out.append(unknownID) }
                pendingUnknown = false
                out.append(id)
                continue
            }
            if byteFallback {
                let utf8 = Array(UTF8.encode(scalar)!)
                if utf8.allSatisfy({ byteIDs[Int($0)] >= 0 }) {
                    // As `merge_word`: a pending unknown token is not flushed before byte tokens.
                    out.append(contentsOf: utf8.map { byteIDs[Int($0)] })
                    continue
                }
            }
            // The unknown token (fused with a preceding one when fuse_unk); dropped without one.
            guard let unknownID else { continue }
            if pendingUnknown && !fuseUnknown { out.append(unknownID) }
            pendingUnknown = true
        }
        if pendingUnknown, let unknownID { out.append(unknownID) }
        return out
    }

    /// Merges `symbols` in place, lowest rank first, then leftmost.
    private func mergeAll(_ symbols: inout [Int32]) {
        let n = symbols.count
        var ids = symbols
        var next = [Int32](0..<Int32(n)).map { $0 + 1 }
        var previous = [Int32](0..<Int32(n)).map { $0 - 1 }
        var alive = [Bool](repeating: true, count: n)
        next[n - 1] = -1
        var heap = MergeHeap()
        for i in 0..<(n - 1) {
            if let merge = merges[BPE.pairKey(ids[i], ids[i + 1])] { heap.push(merge, at: Int32(i)) }
        }
        while let (merge, position) = heap.pop() {
            let p = Int(position)
            guard alive[p], next[p] >= 0 else { continue }
            let right = Int(next[p])
            let newID = Int32(bitPattern: UInt32(truncatingIfNeeded: merge))
            guard let current = merges[BPE.pairKey(ids[p], ids[right])],
                Int32(bitPattern: UInt32(truncatingIfNeeded: current)) == newID
            else { continue }
            ids[p] = newID
            alive[right] = false
            next[p] = next[right]
            if next[right] >= 0 { previous[Int(next[right])] = Int32(p) }
            if previous[p] >= 0, let merge = merges[BPE.pairKey(ids[Int(previous[p])], newID)] {
                heap.push(merge, at: previous[p])
            }
            if next[p] >= 0, let merge = merges[BPE.pairKey(newID, ids[Int(next[p])])] {
                heap.push(merge, at: Int32(p))
            }
        }
        symbols.removeAll(keepingCapacity: true)
        var i = 0
        while i >= 0 {
            symbols.append(ids[i])
            i = Int(next[i])
        }
    }
}

/// A cache key: a word with a precomputed FNV-1a hash, so a lookup hashes one integer.
private struct WordKey: Hashable {
    let scalars: ArraySlice<Unicode.Scalar>
    let byteLevel: Bool
    let hash: UInt64

    init(_ scalars: ArraySlice<Unicode.Scalar>, byteLevel: Bool) {
        var hash: UInt64 = byteLevel ? 0xcbf2_9ce4_8422_2325 : 0x8422_2325_cbf2_9ce4
        for scalar in scalars { hash = (hash ^ UInt64(scalar.value)) &* 0x100_0000_01b3 }
        self.scalars = scalars
        self.byteLevel = byteLevel
        self.hash = hash
    }

    func hash(into hasher: inout Hasher) { hasher.combine(hash) }

    static func == (a: WordKey, b: WordKey) -> Bool {
        a.hash == b.hash && a.byteLevel == b.byteLevel && a.scalars.elementsEqual(b.scalars)
    }
}

/// A binary min-heap of candidate merges ordered by (rank, position).
private struct MergeHeap {
    /// `(rank << 32 | position)` keys and the merged ids beside them.
    private var keys: [UInt64] = []
    private var merged: [UInt32] = []

    mutating func push(_ merge: UInt64, at position: Int32) {
        keys.append((merge >> 32) << 32 | UInt64(UInt32(bitPattern: position)))
        merged.append(UInt32(truncatingIfNeeded: merge))
        var child = keys.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard keys[child] < keys[parent] else { break }
            keys.swapAt(child, parent)
            merged.swapAt(child, parent)
            child = parent
        }
    }

    /// The smallest entry as `(rank << 32 | merged id, position)`.
    mutating func pop() -> (UInt64, Int32)? {
        guard let top = keys.first else { return nil }
        let result = ((top >> 32) << 32 | UInt64(merged[0]), Int32(truncatingIfNeeded: top & 0xFFFF_FFFF))
        let last = keys.count - 1
        keys.swapAt(0, last)
        merged.swapAt(0, last)
        keys.removeLast()
        merged.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < keys.count else { break }
            var smallest = left
            if left + 1 < keys.count && keys[left + 1] < keys[left] { smallest = left + 1 }
            guard keys[smallest] < keys[parent] else { break }
            keys.swapAt(smallest, parent)
            merged.swapAt(smallest, parent)
            parent = smallest
        }
        return result
    }
}
