import Foundation
import Testing
@testable import FledgeTraining

@Suite("Progress line")
struct ProgressReporterTests {
    static let values: [String: Double] = [
        "loss": 3.2149, "acc/0": 0.6149, "acc/1": 0.44, "acc/2": 0.305, "tau": 2.1, "lr": 9.8e-5,
        "tokens_per_second": 412.4,
        "grad_norm": 1.5,
    ]

    @Test("formats every field in order")
    func line() {
        let text = ProgressReporter.line(step: 120, totalSteps: 1000, secondsPerStep: 5.2, values: Self.values)
        #expect(
            text
                == "step 120/1000 | 5.20 s/step | 412 tok/s | loss 3.21 | acc 0.61 0.44 0.30 | "
                + "τ 2.10 | lr 9.8e-5 | ETA 1h16m"
        )
    }

    @Test("leaves out absent fields")
    func partial() {
        #expect(ProgressReporter.line(step: 3, totalSteps: 10, secondsPerStep: nil, values: [:]) == "step 3/10")
        #expect(
            ProgressReporter.line(step: 3, totalSteps: 10, secondsPerStep: 0.25, values: ["loss": 12.34])
                == "step 3/10 | 0.250 s/step | loss 12.3 | ETA 2s")
    }

    @Test("durations, scientific and significant-digit numbers")
    func numbers() {
        #expect(ProgressReporter.formatDuration(42.4) == "42s")
        #expect(ProgressReporter.formatDuration(725) == "12m05s")
        #expect(ProgressReporter.formatDuration(4320) == "1h12m")
        #expect(ProgressReporter.formatDuration(2 * 86400 + 3 * 3600 + 5) == "2d03h")
        #expect(ProgressReporter.formatDuration(.infinity) == "?")
        #expect(ProgressReporter.formatScientific(9.8e-5) == "9.8e-5")
        #expect(ProgressReporter.formatScientific(3e-4) == "3.0e-4")
        #expect(
            ProgressReporter.formatScientific(1.25e3) == "1.2e3" || ProgressReporter.formatScientific(1.25e3) == "1.3e3"
        )
        #expect(ProgressReporter.formatScientific(0) == "0")
        #expect(ProgressReporter.formatSignificant(0.012345) == "0.0123")
        #expect(ProgressReporter.formatSignificant(412.6) == "413")
        #expect(ProgressReporter.formatSignificant(.nan) == "nan")
    }

    @Test("redraws in place on a terminal, prints every N steps otherwise, ignores eval records")
    func output() {
        final class Sink: @unchecked Sendable { var text = "" }
        func records() -> [MetricsRecord] {
            (1...25).map { MetricsRecord(kind: "train", step: $0, epoch: 0, values: ["loss": 2], time: 2 * Double($0)) }
                + [MetricsRecord(kind: "eval", step: 25, epoch: 0, values: ["loss": 2], time: 60)]
        }
        let terminal = Sink()
        var onTerminal = ProgressReporter(totalSteps: 25, plainInterval: 10, isTerminal: true) { terminal.text += $0 }
        for record in records() { onTerminal.report(record) }
        onTerminal.finish()
        #expect(terminal.text.components(separatedBy: "\r").count - 1 == 25)
        #expect(terminal.text.hasSuffix("step 25/25 | 2.00 s/step | loss 2.00 | ETA 0s\u{1B}[K\n"))
        #expect(terminal.text.filter { $0 == "\n" }.count == 1)

        let file = Sink()
        var plain = ProgressReporter(totalSteps: 25, plainInterval: 10, isTerminal: false) { file.text += $0 }
        for record in records() { plain.report(record) }
        plain.finish()
        #expect(
            file.text == """
                step 10/25 | 2.00 s/step | loss 2.00 | ETA 30s
                step 20/25 | 2.00 s/step | loss 2.00 | ETA 10s
                step 25/25 | 2.00 s/step | loss 2.00 | ETA 0s

                """)
    }

    @Test("after a resume, seconds per step count only this process's steps")
    func resumed() {
        var reporter = ProgressReporter(totalSteps: 100, isTerminal: true) { _ in }
        #expect(
            reporter.text(for: MetricsRecord(kind: "train", step: 50, epoch: 0, values: [:], time: 1000))
                == "\rstep 50/100\u{1B}[K")
        #expect(
            reporter.text(for: MetricsRecord(kind: "train", step: 52, epoch: 0, values: [:], time: 1006))
                == "\rstep 52/100 | 3.00 s/step | ETA 2m24s\u{1B}[K")
    }
}
