/// Elementwise kernels on raw buffers (SIMD16 with a scalar tail), forward and backward.
///
/// Legend: N = number of elements. Every function reads and writes `N` floats; outputs may
/// alias inputs where the doc says so.
public enum Elementwise {
    public typealias V = SIMD16<Float>

    /// `out = a + b` (out may alias a or b).
    @inlinable @inline(__always)
    public static func add(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int
    ) {
        var i = 0
        while i + 16 <= count {
            let va = UnsafeRawPointer(a + i).loadUnaligned(as: V.self)
            let vb = UnsafeRawPointer(b + i).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(out + i).storeBytes(of: va + vb, as: V.self)
            i += 16
        }
        while i < count { out[i] = a[i] + b[i]; i += 1 }
    }

    /// `out = a * b` (out may alias a or b).
    @inlinable @inline(__always)
    public static func mul(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int
    ) {
        var i = 0
        while i + 16 <= count {
            let va = UnsafeRawPointer(a + i).loadUnaligned(as: V.self)
            let vb = UnsafeRawPointer(b + i).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(out + i).storeBytes(of: va * vb, as: V.self)
            i += 16
        }
        while i < count { out[i] = a[i] * b[i]; i += 1 }
    }

    /// `out = s · a` (out may alias a).
    @inlinable @inline(__always)
    public static func scale(_ a: UnsafePointer<Float>, by s: Float, _ out: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count {
            let va = UnsafeRawPointer(a + i).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(out + i).storeBytes(of: va * s, as: V.self)
            i += 16
        }
        while i < count { out[i] = a[i] * s; i += 1 }
    }

    /// `y += s · x` (accumulates).
    @inlinable @inline(__always)
    public static func axpy(_ s: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count {
            let vx = UnsafeRawPointer(x + i).loadUnaligned(as: V.self)
            let vy = UnsafeRawPointer(y + i).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(y + i).storeBytes(of: vy + vx * s, as: V.self)
            i += 16
        }
        while i < count { y[i] += s * x[i]; i += 1 }
    }

    /// Backward of `out = a + b`: `da += dout`, `db += dout` (accumulates; either may be nil).
    public static func addBackward(
        _ dout: UnsafePointer<Float>, _ da: UnsafeMutablePointer<Float>?, _ db: UnsafeMutablePointer<Float>?, count: Int
    ) {
        if let da { axpy(1, dout, da, count: count) }
        if let db { axpy(1, dout, db, count: count) }
    }

    /// Backward of `out = a * b`: `da += dout · b`, `db += dout · a` (accumulates).
    public static func mulBackward(
        _ dout: UnsafePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
        _ da: UnsafeMutablePointer<Float>?, _ db: UnsafeMutablePointer<Float>?, count: Int
    ) {
        var i = 0
        while i + 16 <= count {
            let vd = UnsafeRawPointer(dout + i).loadUnaligned(as: V.self)
            if let da {
                let vb = UnsafeRawPointer(b + i).loadUnaligned(as: V.self)
                let old = UnsafeRawPointer(da + i).loadUnaligned(as: V.self)
                UnsafeMutableRawPointer(da + i).storeBytes(of: old + vd * vb, as: V.self)
            }
            if let db {
                let va = UnsafeRawPointer(a + i).loadUnaligned(as: V.self)
                let old = UnsafeRawPointer(db + i).loadUnaligned(as: V.self)
                UnsafeMutableRawPointer(db + i).storeBytes(of: old + vd * va, as: V.self)
            }
            i += 16
        }
        while i < count {
            da?[i] += dout[i] * b[i]
            db?[i] += dout[i] * a[i]
            i += 1
        }
    }

    /// Backward of `out = s · a`: `da += s · dout` (accumulates).
    public static func scaleBackward(
        _ dout: UnsafePointer<Float>, by s: Float, _ da: UnsafeMutablePointer<Float>, count: Int
    ) {
        axpy(s, dout, da, count: count)
    }

    /// `Σ a[i] · b[i]`, summed in 16 lanes then across lanes (a fixed order).
    @inlinable @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var acc = V()
        var i = 0
        while i + 16 <= count {
            acc += UnsafeRawPointer(a + i).loadUnaligned(as: V.self) * UnsafeRawPointer(b + i).loadUnaligned(as: V.self)
            i += 16
        }
        var total = acc.sum()
        while i < count { total += a[i] * b[i]; i += 1 }
        return total
    }
}
