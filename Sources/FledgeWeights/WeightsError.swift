/// Why a weights file could not be read or written.
public struct WeightsError: Error, CustomStringConvertible, Equatable {
    /// The file the problem is in.
    public var file: String
    /// What is wrong.
    public var message: String
    /// How to fix it, when there is something to say.
    public var hint: String?

    public init(file: String, _ message: String, hint: String? = nil) {
        self.file = file
        self.message = message
        self.hint = hint
    }

    public var description: String {
        "\(file): \(message)" + (hint.map { "\nhint: \($0)" } ?? "")
    }
}
