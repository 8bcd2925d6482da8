import FledgeTensor

/// Finite-difference gradient checks (central differences, accumulated in Double).
///
/// The loss is `L = Σ r ⊙ f(inputs)` for fixed random `r`, evaluated by the Float kernel under
/// test; the analytic gradient from the backward is compared with `(L(x+h) − L(x−h)) / 2h`
/// at sampled coordinates.
public struct GradientCheck {
    /// The worst relative error seen, and where.
    public struct Report: CustomStringConvertible {
        public var name: String
        public var worstError: Double
        public var worstIndex: Int
        public var analytic: Double
        public var numeric: Double
        public var checked: Int
        public var description: String {
            "\(name): worst error \(worstError) at \(worstIndex) (analytic \(analytic), numeric \(numeric)) "
                + "over \(checked) coordinates"
        }
    }

    public var step: Float
    public var samples: Int
    public var seed: UInt64

    public init(step: Float = 1e-2, samples: Int = 40, seed: UInt64 = 7) {
        self.step = step
        self.samples = samples
        self.seed = seed
    }

    /// Checks `analytic` (the gradient of `loss` w.r.t. `input`) against central differences.
    /// `loss` must recompute the forward from the current contents of `input`. The error of
    /// a coordinate is |a − n| / max(1, |a|, |n|)·… scaled by the gradient's overall size.
    public func check(_ name: String, input: Tensor, analytic: Tensor, loss: () -> Double) -> Report {
        var generator = SeededGenerator(seed: seed)
        var report = Report(name: name, worstError: 0, worstIndex: -1, analytic: 0, numeric: 0, checked: 0)
        var scale = 0.0
        for i in 0..<analytic.count { scale = max(scale, Double(abs(analytic[i]))) }
        scale = max(scale, 1e-3)
        let indices: [Int] =
            input.count <= samples
            ? Array(0..<input.count)
            : (0..<samples).map { _ in Int(generator.next() % UInt64(input.count)) }
        for index in indices {
            let original = input[index]
            input[index] = original + step
            let plus = loss()
            input[index] = original - step
            let minus = loss()
            input[index] = original
            let numeric = (plus - minus) / (2 * Double(step))
            let value = Double(analytic[index])
            let error = abs(value - numeric) / scale
            report.checked += 1
            if error > report.worstError {
                report.worstError = error
                report.worstIndex = index
                report.analytic = value
                report.numeric = numeric
            }
        }
        return report
    }

    /// `Σ r ⊙ y` in Double.
    public static func weightedSum(_ y: UnsafePointer<Float>, _ r: UnsafePointer<Float>, count: Int) -> Double {
        var total = 0.0
        for i in 0..<count { total += Double(y[i]) * Double(r[i]) }
        return total
    }
}

/// A tensor of normal samples.
public func randomTensor(_ shape: Shape, seed: UInt64, std: Float = 1) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    let tensor = Tensor(zeros: shape)
    generator.fillNormal(tensor, std: std)
    return tensor
}
