import Testing
@testable import FledgeDraft
