import FledgeTensor

/// Keys and values of every layer for a batch of sequences, with cheap roll-back.
///
/// Layout per layer: `[batch, capacity, kvHeads, headDimension]`. Row `b` holds
/// `lengths[b]` valid positions; appending writes after them, ``trim(to:row:)`` forgets the
/// tail (rejected draft tokens) without touching memory, ``keep(row:from:indices:)``
/// compacts the accepted nodes of a verified tree, and ``copy()`` duplicates the cache.
public final class KVCache: @unchecked Sendable {
    public let layerCount: Int
    public let batch: Int
    public let capacity: Int
    public let kvHeads: Int
    public let headDimension: Int
    /// Keys and values per layer.
    public let keys: [Tensor]
    public let values: [Tensor]
    /// Valid positions per batch row.
    public internal(set) var lengths: [Int]

    /// Whether every layer writes the same keys and values (`sharingLayers` of the initialiser).
    public let sharesLayers: Bool

    /// `sharingLayers`: one buffer for all layers, for a single prefill whose cache is thrown
    /// away (feature capture): each layer writes its keys and values and reads them before the
    /// next layer overwrites them, so the forward needs 1/L of the memory. Such a cache must be
    /// empty when a forward starts.
    public init(
        layerCount: Int, batch: Int, capacity: Int, kvHeads: Int, headDimension: Int, sharingLayers: Bool = false
    ) {
        self.layerCount = layerCount
        self.batch = batch
        self.capacity = capacity
        self.kvHeads = kvHeads
        self.headDimension = headDimension
        sharesLayers = sharingLayers
        let shape: Shape = [batch, capacity, kvHeads, headDimension]
        if sharingLayers {
            let (key, value) = (Tensor(zeros: shape), Tensor(zeros: shape))
            keys = Array(repeating: key, count: layerCount)
            values = Array(repeating: value, count: layerCount)
        } else {
            keys = (0..<layerCount).map { _ in Tensor(zeros: shape) }
            values = (0..<layerCount).map { _ in Tensor(zeros: shape) }
        }
        lengths = Array(repeating: 0, count: batch)
    }

    /// Floats per cached position in one layer.
    var rowSize: Int { kvHeads * headDimension }

    /// Forgets every position at or after `length` in `row` (all rows when nil).
    public func trim(to length: Int, row: Int? = nil) {
        for b in row.map({ [$0] }) ?? Array(0..<batch) {
            precondition(
                length >= 0 && length <= lengths[b], "cannot trim row \(b) of length \(lengths[b]) to \(length)")
            lengths[b] = length
        }
    }

    /// Empties every row.
    public func reset() { lengths = Array(repeating: 0, count: batch) }

    /// Keeps, after position `start` of `row`, only the positions `start + indices[i]` (in
    /// order, moved down to `start + i`), e.g. the accepted path of a verified draft tree.
    public func keep(row: Int, from start: Int, indices: [Int]) {
        precondition(!sharesLayers, "a cache whose layers share one buffer keeps nothing")
        for layer in 0..<layerCount {
            for tensor in [keys[layer], values[layer]] {
                let base = tensor.pointer + row * capacity * rowSize
                for (i, index) in indices.enumerated() where index != i {
                    precondition(index > i, "indices must be increasing")
                    (base + (start + i) * rowSize).update(from: base + (start + index) * rowSize, count: rowSize)
                }
            }
        }
        lengths[row] = start + indices.count
    }

    /// Copies row `source` of `other` (same layers and widths, no longer than this cache) into
    /// row `row`, replacing what it held.
    public func copyRow(_ row: Int, from other: KVCache, source: Int = 0) {
        precondition(other.layerCount == layerCount && other.rowSize == rowSize && other.lengths[source] <= capacity)
        let count = other.lengths[source] * rowSize
        for layer in 0..<layerCount {
            (keys[layer].pointer + row * capacity * rowSize).update(
                from: other.keys[layer].pointer + source * other.capacity * rowSize, count: count)
            (values[layer].pointer + row * capacity * rowSize).update(
                from: other.values[layer].pointer + source * other.capacity * rowSize, count: count)
        }
        lengths[row] = other.lengths[source]
    }

    /// Copies `other`'s cached positions into this cache, which must be at least as long and
    /// otherwise of the same dimensions (a grown cache).
    public func copyPrefix(of other: KVCache) {
        precondition(
            other.layerCount == layerCount && other.batch == batch && other.rowSize == rowSize
                && other.capacity <= capacity)
        for layer in 0..<layerCount {
            for (destination, source) in [(keys[layer], other.keys[layer]), (values[layer], other.values[layer])] {
                for b in 0..<batch {
                    (destination.pointer + b * capacity * rowSize).update(
                        from: source.pointer + b * other.capacity * rowSize,
                        count: other.lengths[b] * rowSize)
                }
            }
        }
        lengths = other.lengths
    }

    /// An independent copy (same capacity and contents).
    public func copy() -> KVCache {
        let other = KVCache(
            layerCount: layerCount, batch: batch, capacity: capacity, kvHeads: kvHeads, headDimension: headDimension)
        other.copy(from: self)
        return other
    }

    /// Copies the contents of `other`, which must have the same dimensions.
    public func copy(from other: KVCache) {
        precondition(
            other.layerCount == layerCount && other.batch == batch && other.capacity == capacity
                && other.rowSize == rowSize)
        for layer in 0..<layerCount {
            keys[layer].copy(from: other.keys[layer])
            values[layer].copy(from: other.values[layer])
        }
        lengths = other.lengths
    }
}
