import FledgeTensor

/// Which keys each query of ``Attention`` may see: the AND of up to three rules.
///
/// - causal: key m is visible to query i of batch row b when `m ≤ i + queryOffset +
///   batchQueryOffsets[b]` (the offsets place the queries after that many cached keys, as in
///   decoding);
/// - key validity per batch row (`keyValid[b, m]`, 0 = padding), optional;
/// - an arbitrary dense mask shared by the batch (`allowed[i, m]`, 1 = visible), optional:
///   EAGLE-3's diagonal TTT mask and tree-verification ancestor masks are written here.
///
/// The storage is allocated once for the largest shapes of a run and rewritten in place;
/// after writing `allowed`, call ``updateBlocks()`` so the kernel can skip fully masked tiles.
public final class AttentionMask: @unchecked Sendable {
    /// Whether the causal rule applies.
    public var causal: Bool
    /// Key index of query 0 for the causal rule.
    public var queryOffset: Int
    /// Per batch row, added to `queryOffset` (`[batchCapacity]`; rows of a batch that have
    /// different numbers of cached keys), or nil.
    public let batchQueryOffsets: UnsafeMutablePointer<Int32>?
    /// Queries and keys the storage covers.
    public let queryCapacity: Int
    public let keyCapacity: Int
    public let batchCapacity: Int
    /// `[batchCapacity, keyCapacity]` bytes, or nil when every key is valid.
    public let keyValid: UnsafeMutablePointer<UInt8>?
    /// `[queryCapacity, keyCapacity]` bytes, or nil when there is no dense mask.
    public let allowed: UnsafeMutablePointer<UInt8>?
    /// Per tile of the dense mask: 0 = nothing visible, 1 = everything visible, 2 = mixed.
    let blockState: UnsafeMutablePointer<UInt8>?
    let blockRows: Int
    let blockColumns: Int

    /// Creates a mask; the dense and padding parts start all-visible.
    public init(
        causal: Bool, queryOffset: Int = 0, queryCapacity: Int, keyCapacity: Int,
        batchCapacity: Int = 1, padding: Bool = false, dense: Bool = false, perRowOffsets: Bool = false
    ) {
        self.causal = causal
        self.queryOffset = queryOffset
        self.queryCapacity = queryCapacity
        self.keyCapacity = keyCapacity
        self.batchCapacity = batchCapacity
        if perRowOffsets {
            let storage = UnsafeMutablePointer<Int32>.allocate(capacity: batchCapacity)
            storage.initialize(repeating: 0, count: batchCapacity)
            batchQueryOffsets = storage
        } else {
            batchQueryOffsets = nil
        }
        if padding {
            let storage = UnsafeMutablePointer<UInt8>.allocate(capacity: batchCapacity * keyCapacity)
            storage.initialize(repeating: 1, count: batchCapacity * keyCapacity)
            keyValid = storage
        } else {
            keyValid = nil
        }
        blockRows = (queryCapacity + Attention.queryBlock - 1) / Attention.queryBlock
        blockColumns = (keyCapacity + Attention.keyBlock - 1) / Attention.keyBlock
        if dense {
            let storage = UnsafeMutablePointer<UInt8>.allocate(capacity: queryCapacity * keyCapacity)
            storage.initialize(repeating: 1, count: queryCapacity * keyCapacity)
            allowed = storage
            let blocks = UnsafeMutablePointer<UInt8>.allocate(capacity: blockRows * blockColumns)
            blocks.initialize(repeating: 1, count: blockRows * blockColumns)
            blockState = blocks
        } else {
            allowed = nil
            blockState = nil
        }
    }

    deinit {
        keyValid?.deallocate()
        allowed?.deallocate()
        batchQueryOffsets?.deallocate()
        blockState?.deallocate()
    }

    /// Recomputes the tile summary of the dense mask; call after writing `allowed`. Only the
    /// first `queries` rows and `keys` columns are summarised when given (the next call must
    /// then use no more).
    public func updateBlocks(queries: Int? = nil, keys: Int? = nil) {
        guard let allowed, let blockState else { return }
        let rowLimit = min(queryCapacity, queries ?? queryCapacity), columnLimit = min(keyCapacity, keys ?? keyCapacity)
        for blockRow in 0..<((rowLimit + Attention.queryBlock - 1) / Attention.queryBlock) {
            let q0 = blockRow * Attention.queryBlock
            let q1 = min(rowLimit, q0 + Attention.queryBlock)
            for blockColumn in 0..<((columnLimit + Attention.keyBlock - 1) / Attention.keyBlock) {
                let k0 = blockColumn * Attention.keyBlock
                let k1 = min(columnLimit, k0 + Attention.keyBlock)
                var any = false
                var all = true
                for i in q0..<q1 {
                    let row = allowed + i * keyCapacity
                    for m in k0..<k1 {
                        if row[m] != 0 { any = true } else { all = false }
                    }
                }
                blockState[blockRow * blockColumns + blockColumn] = all ? 1 : (any ? 2 : 0)
            }
        }
    }

    /// Tile classification for batch row `b`, queries `q0..<q1`, keys `k0..<k1`:
    /// 0 = skip, 1 = all visible, 2 = check each element.
    @inline(__always)
    func classify(batch b: Int, q0: Int, q1: Int, k0: Int, k1: Int) -> UInt8 {
        var state: UInt8 = 1
        if causal {
            let offset = queryOffset + Int(batchQueryOffsets?[b] ?? 0)
            if k0 > q1 - 1 + offset { return 0 }
            if k1 - 1 > q0 + offset { state = 2 }
        }
        if let blockState {
            let dense = blockState[(q0 / Attention.queryBlock) * blockColumns + k0 / Attention.keyBlock]
            if dense == 0 { return 0 }
            if dense == 2 { state = 2 }
        }
        if let keyValid, state == 1 {
            let row = keyValid + b * keyCapacity
            for m in k0..<k1 where row[m] == 0 { return 2 }
        }
        return state
    }

    /// Whether query `i` of batch row `b` sees key `m`.
    @inline(__always)
    @inlinable
    public func isVisible(batch b: Int, query i: Int, key m: Int) -> Bool {
        if causal && m > i + queryOffset + Int(batchQueryOffsets?[b] ?? 0) { return false }
        if let allowed, allowed[i * keyCapacity + m] == 0 { return false }
        if let keyValid, keyValid[b * keyCapacity + m] == 0 { return false }
        return true
    }
}
