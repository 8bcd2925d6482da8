import Foundation

/// Writes a line to standard error (progress and notes; results go to standard output).
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// `text` padded with spaces to `width` columns, or followed by one space when it is wider
/// (the columns of the benchmark tables).
func padded(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}
