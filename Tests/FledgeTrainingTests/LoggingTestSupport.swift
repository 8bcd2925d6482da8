import Foundation
@testable import FledgeTraining

/// Temporary directories and the committed logging fixtures.
enum LoggingTestSupport {
    /// `Tests/FledgeTrainingTests/Fixtures` (found from this file, so no resource bundle is needed).
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// A fresh empty directory under the system temporary directory.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-logging-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Training records as the trainer writes them: 7 TTT positions, eval every `evalEvery` steps.
    static func run(steps: Int, evalEvery: Int = 4, positions: Int = 7) -> [MetricsRecord] {
        var records: [MetricsRecord] = []
        for step in 1...max(steps, 1) {
            var values: [String: Double] = [
                "loss": 6.0 / Double(step + 1) + 0.5, "lr": 1e-4 * Double(step) / Double(steps),
                "grad_norm": 1.25, "tokens_per_second": 412.7, "tokens": 100,
            ]
            for k in 0..<positions {
                values["acc/\(k)"] = 0.7 * (1 - 0.1 * Double(k)) * Double(step) / Double(steps)
                values["loss/\(k)"] = 6.0 / Double(step + 1) + 0.1 * Double(k)
            }
            records.append(
                MetricsRecord(
                    kind: "train", step: step, epoch: Double(step) / 10, values: values, time: 5.25 * Double(step)))
            if step % evalEvery == 0 {
                var eval = values
                eval["tau"] = 1 + Double(step) / Double(steps)
                eval.removeValue(forKey: "lr")
                records.append(
                    MetricsRecord(
                        kind: "eval", step: step, epoch: Double(step) / 10, values: eval, time: 5.25 * Double(step) + 1)
                )
            }
        }
        return records
    }
}
