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

    public init(
        learningRate: Float = 1e-4, beta1: Float = 0.9, beta2: Float = 0.95, epsilon: Float = 1e-8,
        weightDecay: Float = 0, step: Int = 0
    ) {
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
