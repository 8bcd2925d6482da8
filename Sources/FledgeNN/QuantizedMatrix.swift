import FledgeTensor

/// A weight matrix `[O, I]` kept in the ggml blocks it was stored in (Q4_1 or Q8_0, 32 values
/// per block), for decoding and verification steps that read every weight once per token.
///
/// A Q4_1 row costs 0.625 bytes per weight and a Q8_0 row 1.0625, against 4 for Float32, and
/// decoding is bound by memory traffic. The values are the ones `GGMLQuantization` dequantises
/// (`Float(q)·d + m`, `d·Float(q)`, the same operations), and ``QuantizedMatmul`` sums them in
/// ``FewRowsMatmul``'s order, so its outputs are bit-identical to ``FewRowsMatmul`` on the
/// dequantised Float32 matrix: a model decodes the same tokens either way.
public final class QuantizedMatrix: @unchecked Sendable {
    public enum Format: String, Sendable {
        /// f16 d, f16 m, 16 bytes of nibbles (values 0–15 low, 16–31 high): `x = q·d + m`.
        case q4_1
        /// f16 d, 32 int8: `x = d·q`.
        case q8_0
        /// 32 int8 with a scale per 16 (Q6_K's sub-blocks, values −32…31): `x = d_half·q`.
        case q8_16

        /// Bytes of one ggml block of 32 values (Q4_1, Q8_0).
        public var blockBytes: Int { self == .q4_1 ? 20 : 34 }
        /// Bytes of quantised values per block as kept here (the scales are kept apart).
        var quantBytes: Int { self == .q4_1 ? 16 : 32 }
        /// Scales per block.
        var scalesPerBlock: Int { self == .q8_16 ? 2 : 1 }
    }

    public static let blockSize = 32

    public let format: Format
    public let rows: Int
    public let columns: Int
    let blocksPerRow: Int
    /// Per block (row-major over rows then blocks): the scale d (Q8_16: two), and for Q4_1 the
    /// minimum m.
    let scales: UnsafeMutablePointer<Float>
    let minimums: UnsafeMutablePointer<Float>
    /// Per block, its nibbles (Q4_1) or int8 values (Q8_0), contiguous.
    let quants: UnsafeMutableRawPointer

    /// Empty storage for `rows` × `columns` values in `format` (the minimums zero).
    private init(storage format: Format, rows: Int, columns: Int) {
        precondition(columns % Self.blockSize == 0, "a quantised row has \(columns) values, not a multiple of 32")
        self.format = format
        self.rows = rows
        self.columns = columns
        blocksPerRow = columns / Self.blockSize
        let count = rows * blocksPerRow
        scales = .allocate(capacity: count * format.scalesPerBlock)
        let minimumCount = format == .q4_1 ? count : 1
        minimums = .allocate(capacity: minimumCount)
        minimums.initialize(repeating: 0, count: minimumCount)
        quants = .allocate(byteCount: count * format.quantBytes, alignment: 64)
    }

    /// Takes `rows` rows of ggml blocks at `blocks`; row `r` of the matrix is row
    /// `sourceRows[r]` of the stored tensor (nil: the same order).
    public convenience init(
        format: Format, blocks: UnsafeRawPointer, rows: Int, columns: Int, sourceRows: [Int]? = nil
    ) {
        precondition(format != .q8_16, "Q8_16 blocks come from Q6_K (init(source:))")
        precondition(sourceRows.map { $0.count == rows } ?? true, "the row order has the wrong length")
        self.init(storage: format, rows: rows, columns: columns)
        let rowBytes = blocksPerRow * format.blockBytes
        for row in 0..<rows {
            let source = blocks + (sourceRows?[row] ?? row) * rowBytes
            for block in 0..<blocksPerRow {
                let x = source + block * format.blockBytes
                let index = row * blocksPerRow + block
                scales[index] = HalfPrecision.float(f16: x.loadUnaligned(as: UInt16.self))
                let quantOffset = format == .q4_1 ? 4 : 2
                if format == .q4_1 {
                    minimums[index] = HalfPrecision.float(f16: x.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
                }
                (quants + index * format.quantBytes).copyMemory(from: x + quantOffset, byteCount: format.quantBytes)
            }
        }
    }

    /// The ggml block types that convert exactly into ``Format/q4_1`` (Q4_0: m = -8d; Q4_K: each
    /// 32-value sub-block of a 256-value super-block with d·scale and -dmin·min, products of a
    /// half and a 6-bit integer, exact in Float32) or are kept as they are.
    /// Q6_K's 16-value sub-blocks become ``Format/q8_16`` blocks (d·scale, exact: a half times
    /// an int8).
    public enum Source: Sendable {
        case q4_0, q4_1, q8_0, q4_K, q6_K

        /// Bytes of one stored block, and the values it holds.
        var blockBytes: Int {
            switch self {
            case .q4_0: 18
            case .q4_1: 20
            case .q8_0: 34
            case .q4_K: 144
            case .q6_K: 210
            }
        }
        var blockValues: Int { self == .q4_K || self == .q6_K ? 256 : 32 }
    }

    /// Takes `rows` rows of blocks of `source` type at `blocks` (Q4_0 and Q4_K converted to
    /// Q4_1 blocks with the same values); row `r` is row `sourceRows[r]` of the stored tensor.
    public convenience init(
        source: Source, blocks: UnsafeRawPointer, rows: Int, columns: Int, sourceRows: [Int]? = nil
    ) {
        switch source {
        case .q4_1:
            self.init(format: .q4_1, blocks: blocks, rows: rows, columns: columns, sourceRows: sourceRows)
        case .q8_0:
            self.init(format: .q8_0, blocks: blocks, rows: rows, columns: columns, sourceRows: sourceRows)
        case .q6_K:
            precondition(columns % 256 == 0, "\(columns) values per row do not fill whole Q6_K blocks")
            self.init(storage: .q8_16, rows: rows, columns: columns)
            for row in 0..<rows {
                let from = blocks + (sourceRows?[row] ?? row) * (columns / 256 * 210)
                for superBlock in 0..<(columns / 256) {
                    readQ6K(from + superBlock * 210, block: row * blocksPerRow + superBlock * 8)
                }
            }
        case .q4_0, .q4_K:
            precondition(columns % source.blockValues == 0, "\(columns) values per row do not fill whole blocks")
            // Rewritten as Q4_1 blocks with Float32 d and m.
            self.init(storage: .q4_1, rows: rows, columns: columns)
            let rowBytes = columns / source.blockValues * source.blockBytes
            for row in 0..<rows {
                let from = blocks + (sourceRows?[row] ?? row) * rowBytes
                if source == .q4_0 {
                    for block in 0..<blocksPerRow {
                        let (x, index) = (from + block * 18, row * blocksPerRow + block)
                        let d = HalfPrecision.float(f16: x.loadUnaligned(as: UInt16.self))
                        (scales[index], minimums[index]) = (d, -8 * d)
                        (quants + index * 16).copyMemory(from: x + 2, byteCount: 16)
                    }
                } else {
                    for superBlock in 0..<(columns / 256) {
                        readQ4K(from + superBlock * 144, block: row * blocksPerRow + superBlock * 8)
                    }
                }
            }
        }
    }

    /// Q6_K super-block `x` (128 bytes of low 4 bits, 64 of high 2 bits, 16 int8 scales, f16 d;
    /// value = d·scale·(q − 32), in ggml's order) as the 8 Q8_16 blocks from `block` on.
    private func readQ6K(_ x: UnsafeRawPointer, block: Int) {
        let values = quants.assumingMemoryBound(to: Int8.self) + block * 32
        let d = HalfPrecision.float(f16: x.loadUnaligned(fromByteOffset: 208, as: UInt16.self))
        for half in 0..<2 {
            let (ql, qh, sc) = (x + 64 * half, x + 128 + 32 * half, x + 192 + 8 * half)
            let out = values + 128 * half
            for l in 0..<32 {
                let low0 = ql.load(fromByteOffset: l, as: UInt8.self)
                let low32 = ql.load(fromByteOffset: l + 32, as: UInt8.self)
                let high = qh.load(fromByteOffset: l, as: UInt8.self)
                out[l] = Int8(Int((low0 & 0x0F) | ((high & 3) << 4)) - 32)
                out[32 + l] = Int8(Int((low32 & 0x0F) | (((high >> 2) & 3) << 4)) - 32)
                out[64 + l] = Int8(Int((low0 >> 4) | (((high >> 4) & 3) << 4)) - 32)
                out[96 + l] = Int8(Int((low32 >> 4) | (((high >> 6) & 3) << 4)) - 32)
            }
            // Sub-block `sub` of this half (values 128·half + 16·sub …) takes scale `sub`.
            for sub in 0..<8 {
                scales[2 * block + 8 * half + sub] = d * Float(sc.load(fromByteOffset: sub, as: Int8.self))
            }
        }
    }

    /// Q4_K super-block `x` (f16 d, f16 dmin, 12 bytes of 6-bit scales and mins, 128 bytes of
    /// nibbles: sub-block 2i the low nibbles of bytes 32i…32i+31, 2i+1 the high ones) as the 8
    /// Q4_1 blocks from `block` on: value = (d·scale)·q − dmin·min.
    private func readQ4K(_ x: UnsafeRawPointer, block: Int) {
        let d = HalfPrecision.float(f16: x.loadUnaligned(as: UInt16.self))
        let dmin = HalfPrecision.float(f16: x.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        let packed = x + 4
        func byte(_ i: Int) -> UInt8 { packed.load(fromByteOffset: i, as: UInt8.self) }
        for j in 0..<8 {
            let (scale, minimum): (UInt8, UInt8) =
                j < 4
                ? (byte(j) & 63, byte(j + 4) & 63)
                : ((byte(j + 4) & 0x0F) | ((byte(j - 4) >> 6) << 4), (byte(j + 4) >> 4) | ((byte(j) >> 6) << 4))
            scales[block + j] = d * Float(scale)
            minimums[block + j] = -(dmin * Float(minimum))
            let q = x + 16 + (j / 2) * 32
            let out = quants + (block + j) * 16
            for l in 0..<16 {
                let low = q.load(fromByteOffset: l, as: UInt8.self),
                    high = q.load(fromByteOffset: l + 16, as: UInt8.self)
                let (a, b) = j % 2 == 0 ? (low & 0x0F, high & 0x0F) : (low >> 4, high >> 4)
                out.storeBytes(of: a | (b << 4), toByteOffset: l, as: UInt8.self)
            }
        }
    }

    /// A Float32 matrix `[rows, columns]` rounded to Q8_0 blocks (see below).
    public convenience init(quantizing tensor: Tensor) {
        self.init(quantizing: tensor.pointer, rows: tensor.shape[0], columns: tensor.count / max(tensor.shape[0], 1))
    }

    /// `weights` `[rows, columns]` rounded to Q8_0 blocks as ggml rounds them (d = max|x|/127,
    /// q = round(x/d), ties away from zero), with d kept in Float32: for Float32 matrices that
    /// decoding reads often (a draft's layer and head), at 1.125 bytes per weight.
    public convenience init(quantizing weights: UnsafePointer<Float>, rows: Int, columns: Int) {
        self.init(storage: .q8_0, rows: rows, columns: columns)
        let values = quants.assumingMemoryBound(to: Int8.self)
        for index in 0..<(rows * blocksPerRow) {
            let x = weights + index * 32
            var largest: Float = 0
            for j in 0..<32 { largest = max(largest, abs(x[j])) }
            let d = largest / 127, inverse: Float = d != 0 ? 1 / d : 0
            scales[index] = d
            for j in 0..<32 { values[index * 32 + j] = Int8((x[j] * inverse).rounded()) }
        }
    }

    deinit {
        scales.deallocate()
        minimums.deallocate()
        quants.deallocate()
    }

    /// Bytes held (what one pass over the matrix reads).
    public var byteCount: Int {
        rows * blocksPerRow * (format.quantBytes + 4 * format.scalesPerBlock + (format == .q4_1 ? 4 : 0))
    }

    /// Row `row` in Float32 (`columns` values), as ``dequantized()`` gives it.
    public func dequantize(row: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(row >= 0 && row < rows, "row \(row) outside 0..<\(rows)")
        for chunk in 0..<(columns / 8) {
            let values = QuantizedMatmul.chunk(self, row: row, chunk: chunk)
            UnsafeMutableRawPointer(out + chunk * 8).storeBytes(of: values, as: QuantizedMatmul.V.self)
        }
    }

    /// The matrix in Float32, value for value as `GGMLQuantization.dequantize` gives it.
    public func dequantized() -> Tensor {
        let out = Tensor(zeros: [rows, columns])
        for row in 0..<rows {
            for chunk in 0..<(columns / 8) {
                let values = QuantizedMatmul.chunk(self, row: row, chunk: chunk)
                for lane in 0..<8 { out.pointer[row * columns + chunk * 8 + lane] = values[lane] }
            }
        }
        return out
    }
}

/// `out[N,O] (= or +=) inp[N,I] · Wᵀ` for a few rows N with W a ``QuantizedMatrix``: each chunk
/// of 8 weights is dequantised in registers and multiplied into up to 4 input rows, summed in
/// ``FewRowsMatmul``'s order (bit-identical to it on ``QuantizedMatrix/dequantized()``).
public enum QuantizedMatmul {
    public typealias V = SIMD8<Float>

    /// Callers take this kernel for at most this many rows: it reads 4–6× fewer bytes than
    /// ``FewRowsMatmul`` but dequantises every chunk, so from about 12 rows on (products bound
    /// by arithmetic, not memory) the Float32 kernel is faster (`fledge bench target --compare
    /// float32`). Both give the same bits, so the switch never changes an output.
    public static let rowLimit = 8

    public static func forward(
        _ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, matrix w: QuantizedMatrix, rows n: Int,
        accumulate: Bool
    ) {
        if n == 0 || w.rows == 0 { return }
        let i = w.columns, o = w.rows
        let grain = max(2, (16_384 / max(i, 1)) & ~1)
        Parallel.forChunks(count: o, grain: grain) { columns in
            var column = columns.lowerBound
            while column + 2 <= columns.upperBound {
                var row = 0
                while row + 4 <= n {
                    block(out + row * o + column, o, inp + row * i, w, column, rows: 4, accumulate: accumulate)
                    row += 4
                }
                // Constant row counts, so each call compiles to only the FMAs it needs.
                switch n - row {
                case 1: block(out + row * o + column, o, inp + row * i, w, column, rows: 1, accumulate: accumulate)
                case 2: block(out + row * o + column, o, inp + row * i, w, column, rows: 2, accumulate: accumulate)
                case 3: block(out + row * o + column, o, inp + row * i, w, column, rows: 3, accumulate: accumulate)
                default: break
                }
                column += 2
            }
            if column < columns.upperBound {
                for row in 0..<n {
                    let value = dot(inp + row * i, w, column)
                    out[row * o + column] = accumulate ? out[row * o + column] + value : value
                }
            }
        }
    }

    /// Weights `8·chunk ..< 8·chunk + 8` of `row`, dequantised.
    @inline(__always)
    static func chunk(_ w: QuantizedMatrix, row: Int, chunk c: Int) -> V {
        let view = View(w)
        return w.format == .q4_1 ? view.q41(row, c) : view.q80(row, c)
    }

    /// The matrix's pointers, loaded once per call.
    struct View {
        let quants: UnsafeRawPointer, scales: UnsafePointer<Float>, minimums: UnsafePointer<Float>, blocksPerRow: Int
        /// Q8_16: two scales per block.
        let halves: Bool

        init(_ w: QuantizedMatrix) {
            quants = UnsafeRawPointer(w.quants)
            scales = UnsafePointer(w.scales)
            minimums = UnsafePointer(w.minimums)
            blocksPerRow = w.blocksPerRow
            halves = w.format == .q8_16
        }

        /// Q4_1 chunk `c` of `row`: chunks 0, 1 are the low nibbles of bytes 0–7, 8–15; 2, 3 the high.
        @inline(__always)
        func q41(_ row: Int, _ c: Int) -> V {
            let index = row * blocksPerRow + (c >> 2)
            let part = c & 3
            let bytes = (quants + index * 16 + (part & 1) * 8).loadUnaligned(as: SIMD8<UInt8>.self)
            let q = part < 2 ? bytes & 0x0F : bytes &>> 4
            return V(SIMD8<Int32>(truncatingIfNeeded: q)) * V(repeating: scales[index]) + V(repeating: minimums[index])
        }

        @inline(__always)
        func q80(_ row: Int, _ c: Int) -> V {
            let index = row * blocksPerRow + (c >> 2)
            let q = (quants + index * 32 + (c & 3) * 8).loadUnaligned(as: SIMD8<Int8>.self)
            let scale = halves ? scales[2 * index + (c & 3) / 2] : scales[index]
            return V(repeating: scale) * V(SIMD8<Int32>(truncatingIfNeeded: q))
        }
    }

    /// Up to 4 input rows against weight rows `column` and `column + 1`, block by block (the
    /// block's scales are read once, its 4 chunks unrolled).
    @inline(__always)
    static func block(
        _ out: UnsafeMutablePointer<Float>, _ ldo: Int, _ x: UnsafePointer<Float>, _ w: QuantizedMatrix, _ column: Int,
        rows: Int, accumulate: Bool
    ) {
        let i = w.columns
        let view = View(w)
        var a = Accumulators(x, i, rows: rows)
        switch w.format {
        case .q4_1:
            for b in 0..<view.blocksPerRow {
                for part in 0..<4 {
                    a.add(view.q41(column, b * 4 + part), view.q41(column + 1, b * 4 + part), at: b * 32 + part * 8)
                }
            }
        case .q8_0, .q8_16:
            for b in 0..<view.blocksPerRow {
                for part in 0..<4 {
                    a.add(view.q80(column, b * 4 + part), view.q80(column + 1, b * 4 + part), at: b * 32 + part * 8)
                }
            }
        }
        store(out, FewRowsMatmul.reduce(a.a00), FewRowsMatmul.reduce(a.a01), accumulate)
        if rows > 1 { store(out + ldo, FewRowsMatmul.reduce(a.a10), FewRowsMatmul.reduce(a.a11), accumulate) }
        if rows > 2 { store(out + 2 * ldo, FewRowsMatmul.reduce(a.a20), FewRowsMatmul.reduce(a.a21), accumulate) }
        if rows > 3 { store(out + 3 * ldo, FewRowsMatmul.reduce(a.a30), FewRowsMatmul.reduce(a.a31), accumulate) }
    }

    /// Partial sums of up to 4 input rows against 2 weight rows.
    struct Accumulators {
        var a00 = V(), a01 = V(), a10 = V(), a11 = V(), a20 = V(), a21 = V(), a30 = V(), a31 = V()
        let x0, x1, x2, x3: UnsafePointer<Float>
        let rows: Int

        @inline(__always)
        init(_ x: UnsafePointer<Float>, _ i: Int, rows: Int) {
            x0 = x
            x1 = x + (rows > 1 ? i : 0)
            x2 = x + (rows > 2 ? 2 * i : 0)
            x3 = x + (rows > 3 ? 3 * i : 0)
            self.rows = rows
        }

        /// Adds weight chunks `u`, `v` (elements `p ..< p + 8`) times each input row.
        @inline(__always)
        mutating func add(_ u: V, _ v: V, at p: Int) {
            let y0 = UnsafeRawPointer(x0 + p).loadUnaligned(as: V.self)
            a00.addProduct(y0, u); a01.addProduct(y0, v)
            if rows > 1 {
                let y1 = UnsafeRawPointer(x1 + p).loadUnaligned(as: V.self)
                a10.addProduct(y1, u); a11.addProduct(y1, v)
            }
            if rows > 2 {
                let y2 = UnsafeRawPointer(x2 + p).loadUnaligned(as: V.self)
                a20.addProduct(y2, u); a21.addProduct(y2, v)
            }
            if rows > 3 {
                let y3 = UnsafeRawPointer(x3 + p).loadUnaligned(as: V.self)
                a30.addProduct(y3, u); a31.addProduct(y3, v)
            }
        }
    }

    @inline(__always)
    static func store(_ line: UnsafeMutablePointer<Float>, _ s0: Float, _ s1: Float, _ accumulate: Bool) {
        if accumulate { line[0] += s0; line[1] += s1 } else { line[0] = s0; line[1] = s1 }
    }

    /// One input row against one weight row, in the same order as `block`.
    static func dot(_ x: UnsafePointer<Float>, _ w: QuantizedMatrix, _ row: Int) -> Float {
        let view = View(w)
        var a = V()
        for c in 0..<(w.columns / 8) {
            let u = w.format == .q4_1 ? view.q41(row, c) : view.q80(row, c)
            a.addProduct(UnsafeRawPointer(x + c * 8).loadUnaligned(as: V.self), u)
        }
        return FewRowsMatmul.reduce(a)
    }
}
