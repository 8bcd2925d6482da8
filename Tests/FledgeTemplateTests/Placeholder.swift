import Testing
@testable import FledgeTemplate
