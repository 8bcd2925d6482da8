import Foundation
import FledgeTensor

/// AdamW with decoupled weight decay, matching `torch.optim.AdamW` (foreach=False) step for step:
///
///     p ← p − lr·wd·p
///     m ← β₁m + (1−β₁)g ;  v ← β₂v + (1−β₂)g²
///     p ← p − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)
///
/// Runs over the flat buffers of a ``ParameterSet`` in parallel chunks (elementwise, so the
/// result does not depend on the thread count).
public struct AdamW: Sendable, Codable, Equatable {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    /// Steps taken so far (t of the bias corrections).
    public var step: Int

    public init(learningRate: Float = 1e-4, beta1: Float = 0.9, beta2: Float = 0.95, epsilon: Float = 1e-8, weightDecay: Float = 0, step: Int = 0) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.step = step
    }

    /// Applies one update to the first `count` parameters (all by default) and increments `step`.
    public mutating func update(_ set: ParameterSet, count: Int? = nil) {
        step += 1
        let n = count ?? set.count
        let correction1 = 1 - Float(pow(Double(beta1), Double(step)))
        let correction2Root = Float((1 - pow(Double(beta2), Double(step))).squareRoot())
        let stepSize = learningRate / correction1
        let decay = 1 - learningRate * weightDecay
        let (b1, b2, eps) = (beta1, beta2, epsilon)
        let p = set.parameters.pointer
        let g = set.gradients.pointer
        let m = set.firstMoments.pointer
        let v = set.secondMoments.pointer
        Parallel.forChunks(count: n, grain: 65_536) { range in
            for i in range {
                let grad = g[i]
                p[i] *= decay
                m[i] = b1 * m[i] + (1 - b1) * grad
                v[i] = b2 * v[i] + (1 - b2) * grad * grad
                let denominator = v[i].squareRoot() / correction2Root + eps
                p[i] -= stepSize * m[i] / denominator
            }
        }
    }
}

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
