/// Streams decoded text token by token: each call returns the text that became printable,
/// holding back a trailing partial character (a multi-byte character split over tokens).
public struct TextStream {
    public let tokenizer: Tokenizer
    /// Tokens that are never printed (stop tokens).
    public let skipped: Set<Int32>
    public private(set) var tokens: [Int32] = []
    /// The text returned so far.
    public private(set) var printed = ""

    public init(tokenizer: Tokenizer, skipping skipped: Set<Int32> = []) {
        self.tokenizer = tokenizer
        self.skipped = skipped
    }

    /// Adds `token`; returns the newly printable text (often empty).
    public mutating func append(_ token: Int32) -> String {
        guard !skipped.contains(token) else { return "" }
        tokens.append(token)
        // Decode the whole answer so multi-byte characters split over tokens come out whole.
        let text = tokenizer.decode(tokens, skipSpecialTokens: true)
        guard text.hasPrefix(printed), !text.hasSuffix("\u{FFFD}") else { return "" }
        let new = String(text.dropFirst(printed.count))
        printed = text
        return new
    }

    /// The whole text, including a trailing partial character if the answer ended in one.
    public var text: String { tokenizer.decode(tokens, skipSpecialTokens: true) }
}
