/// A collective that failed or could not start (another rank died or hangs, a launcher that
/// is not Open MPI's, mpirun missing or failing), with a hint.
public struct DistributedError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var hint: String?
    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }
    public var description: String { hint.map { "\(message)\nhint: \($0)" } ?? message }
}
