import Testing
@testable import FledgeTraining
