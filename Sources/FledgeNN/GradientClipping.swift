import Foundation
import FledgeTensor

/// Global gradient-norm clipping over a flat gradient buffer, as `torch.nn.utils.clip_grad_norm_`:
/// scales all gradients by `maxNorm / (norm + 1e-6)` when that is below 1.
public enum GradientClipping {
    /// The L2 norm of `count` floats: 64 fixed slices, each summed in Float lanes, then
    /// added in Double in slice order (no allocation; independent of the thread count).
    public static func norm(_ g: UnsafePointer<Float>, count: Int) -> Float {
        let slices = 64
        let sliceSize = (count + slices - 1) / slices
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: slices) { partials in
            let base = partials.baseAddress!
            base.initialize(repeating: 0, count: slices)
            Parallel.forEach(units: slices) { slice, _ in
                let start = slice * sliceSize
                let length = Swift.min(sliceSize, count - start)
                if length > 0 { base[slice] = Double(Elementwise.dot(g + start, g + start, count: length)) }
            }
            var total = 0.0
            for slice in 0..<slices { total += base[slice] }
            return Float(total.squareRoot())
        }
    }

    /// Clips in place and returns the norm before clipping.
    @discardableResult
    public static func clip(_ g: UnsafeMutablePointer<Float>, count: Int, maxNorm: Float) -> Float {
        let total = norm(g, count: count)
        let coefficient = maxNorm / (total + 1e-6)
        if coefficient < 1 { Elementwise.scale(g, by: coefficient, g, count: count) }
        return total
    }

    /// Clamps every gradient to [−limit, limit] (EAGLE-1's `clip_grad_value_`).
    public static func clipValues(_ g: UnsafeMutablePointer<Float>, count: Int, limit: Float) {
        for i in 0..<count { g[i] = Swift.min(Swift.max(g[i], -limit), limit) }
    }
}
