import Testing
@testable import FledgeData
