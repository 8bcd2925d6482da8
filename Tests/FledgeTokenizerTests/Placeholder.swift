import Testing
@testable import FledgeTokenizer
