import Testing
@testable import FledgeWeights
