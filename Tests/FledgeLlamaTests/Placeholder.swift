import Testing
@testable import FledgeLlama
