import Foundation

/// Learning-rate schedules: linear warmup over `warmupSteps`, then cosine or linear decay to
/// 0 at `totalSteps`, or constant (SpecForge `CosineAnnealingWarmupLR`, EAGLE's linear decay).
public struct LearningRateSchedule: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable { case cosine, linear, constant }

    public var kind: Kind
    public var peak: Float
    public var warmupSteps: Int
    public var totalSteps: Int

    public init(kind: Kind, peak: Float, warmupSteps: Int, totalSteps: Int) {
        self.kind = kind
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = max(totalSteps, 1)
    }

    /// The learning rate for optimizer step `step` (0-based: the rate used by the first update is `rate(0)`).
    public func rate(_ step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        switch kind {
        case .constant:
            return peak
        case .linear:
            let progress = Float(step - warmupSteps) / Float(max(totalSteps - warmupSteps, 1))
            return peak * max(0, 1 - progress)
        case .cosine:
            let progress = min(1, Float(step - warmupSteps) / Float(max(totalSteps - warmupSteps, 1)))
            return peak * 0.5 * (1 + cosf(Float.pi * progress))
        }
    }
}
