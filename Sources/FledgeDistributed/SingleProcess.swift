import Foundation

/// One process: every collective is the identity.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var localSize: Int { 1 }
    public func allreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int, what: String) throws {}
    public func allreduceSum(_ values: inout [Double], what: String) throws {}
    public func broadcast(_ bytes: inout [UInt8], root: Int, what: String) throws {}
    public func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int, what: String) throws {}
    public func finalize() {}
    public func abort(_ message: String) -> Never {
        FileHandle.standardError.write(Data("\(message)\n".utf8))
        exit(1)
    }
}
