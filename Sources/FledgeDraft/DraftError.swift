/// A draft that cannot be built, loaded or exported, with a hint.
public struct DraftError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public var hint: String?
    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }
    public var description: String { message + (hint.map { "\nhint: \($0)" } ?? "") }
}
