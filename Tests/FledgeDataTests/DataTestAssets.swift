import Foundation
import FledgeTestSupport

/// The real model and data (``TestAssets``) and this target's fixtures.
enum DataTestAssets {
    static var packageRoot: URL { TestAssets.packageRoot }
    static var directory: URL { TestAssets.directory }
    static var smolLM2: URL { TestAssets.smolLM2 }
    static var hasSmolLM2: Bool { TestAssets.hasSmolLM2 }

    static var fixtures: URL { Bundle.module.url(forResource: "Fixtures", withExtension: nil)! }
}
