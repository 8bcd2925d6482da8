import FledgeTensor

/// Root-mean-square normalisation (Llama): `y = w ⊙ x · rstd`, `rstd = 1/√(mean(x²) + ε)`.
///
/// forward:  out[N,C], saves rstd[N] for the backward
/// backward: dinp[N,C] += rstd·(g − x·rstd²·mean(g⊙x)) with g = w⊙dout;
///           dweight[C] += Σₙ dout⊙x·rstd   (accumulates)
public enum RMSNorm {
    public typealias V = SIMD16<Float>

    public static func forward(
        _ out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, rows n: Int, channels c: Int, eps: Float
    ) {
        Parallel.forChunks(count: n, grain: max(1, 16_384 / max(c, 1))) { rows in
            for row in rows {
                let x = inp + row * c
                let y = out + row * c
                let r = 1 / (Elementwise.dot(x, x, count: c) / Float(c) + eps).squareRoot()
                rstd[row] = r
                var i = 0
                while i + 16 <= c {
                    let vx = UnsafeRawPointer(x + i).loadUnaligned(as: V.self)
                    let vw = UnsafeRawPointer(weight + i).loadUnaligned(as: V.self)
                    UnsafeMutableRawPointer(y + i).storeBytes(of: vw * (vx * r), as: V.self)
                    i += 16
                }
                while i < c { y[i] = weight[i] * (x[i] * r); i += 1 }
            }
        }
    }

    public static func backward(
        dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dout: UnsafePointer<Float>,
        inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows n: Int,
        channels c: Int
    ) {
        if let dinp {
            Parallel.forChunks(count: n, grain: max(1, 8_192 / max(c, 1))) { rows in
                for row in rows {
                    let x = inp + row * c
                    let dy = dout + row * c
                    let dx = dinp + row * c
                    let r = rstd[row]
                    var acc = V()
                    var i = 0
                    while i + 16 <= c {
                        let g =
                            UnsafeRawPointer(weight + i).loadUnaligned(as: V.self)
                            * UnsafeRawPointer(dy + i).loadUnaligned(as: V.self)
                        acc += g * UnsafeRawPointer(x + i).loadUnaligned(as: V.self)
                        i += 16
                    }
                    var gx = acc.sum()
                    while i < c { gx += weight[i] * dy[i] * x[i]; i += 1 }
                    let coefficient = r * r * r * gx / Float(c)
                    i = 0
                    while i + 16 <= c {
                        let g =
                            UnsafeRawPointer(weight + i).loadUnaligned(as: V.self)
                            * UnsafeRawPointer(dy + i).loadUnaligned(as: V.self)
                        let vx = UnsafeRawPointer(x + i).loadUnaligned(as: V.self)
                        let old = UnsafeRawPointer(dx + i).loadUnaligned(as: V.self)
                        UnsafeMutableRawPointer(dx + i).storeBytes(of: old + g * r - vx * coefficient, as: V.self)
                        i += 16
                    }
                    while i < c { dx[i] += weight[i] * dy[i] * r - x[i] * coefficient; i += 1 }
                }
            }
        }
        if let dweight {
            Parallel.forChunks(count: c, grain: 64) { columns in
                for row in 0..<n {
                    let x = inp + row * c
                    let dy = dout + row * c
                    let r = rstd[row]
                    for column in columns { dweight[column] += dy[column] * x[column] * r }
                }
            }
        }
    }
}
