import Foundation
import Testing

// The real model and data, cached by Scripts/fetch-assets.sh in .cache/assets (or $FLEDGE_ASSETS).
// Tests never download: when a file is absent they are skipped with a message saying how to fetch it.

enum RealAssets {
    /// `$FLEDGE_ASSETS`, else `<package root>/.cache/assets` (the package root is found from this file).
    static var folder: URL {
        if let path = ProcessInfo.processInfo.environment["FLEDGE_ASSETS"] { return URL(fileURLWithPath: path) }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".cache/assets")
    }

    static var smolLM2GGUF: URL { folder.appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf") }
    static var shareGPT: URL { folder.appendingPathComponent("ShareGPT_V3_unfiltered_cleaned_split.json") }

    static var available: Bool {
        FileManager.default.fileExists(atPath: smolLM2GGUF.path)
            && FileManager.default.fileExists(atPath: shareGPT.path)
    }

    static let missingMessage: Comment =
        "SmolLM2 GGUF or ShareGPT not in .cache/assets (nor $FLEDGE_ASSETS): run Scripts/fetch-assets.sh model sharegpt"
}

/// The complete records of the truncated ShareGPT JSON array, in order, as "\n\n"-joined turn
/// values (the text the fixture script encodes). Stops at the first incomplete record.
func shareGPTConversations(_ url: URL, limit: Int = .max) throws -> [String] {
    let data = try Data(contentsOf: url, options: .alwaysMapped)
    var texts: [String] = []
    try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
        let bytes = raw.bindMemory(to: UInt8.self)
        var i = 0
        while i < bytes.count && bytes[i] != UInt8(ascii: "[") { i += 1 }
        i += 1
        while texts.count < limit {
            while i < bytes.count && (bytes[i] == UInt8(ascii: ",") || bytes[i] <= 0x20) { i += 1 }
            guard i < bytes.count, bytes[i] == UInt8(ascii: "{") else { return }
            guard let end = objectEnd(bytes, from: i) else { return }  // the truncated tail
            let object = try JSONSerialization.jsonObject(with: Data(bytes[i..<end]))
            let turns = ((object as? [String: Any])?["conversations"] as? [[String: Any]]) ?? []
            texts.append(turns.map { ($0["value"] as? String) ?? "" }.joined(separator: "\n\n"))
            i = end
        }
    }
    return texts
}

/// The index just past the JSON object starting at `start`, or nil when the buffer ends first.
private func objectEnd(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
    var depth = 0
    var inString = false
    var i = start
    while i < bytes.count {
        let byte = bytes[i]
        if inString {
            if byte == UInt8(ascii: "\\") { i += 1 } else if byte == UInt8(ascii: "\"") { inString = false }
        } else if byte == UInt8(ascii: "\"") {
            inString = true
        } else if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
            depth += 1
        } else if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
            depth -= 1
            if depth == 0 { return i + 1 }
        }
        i += 1
    }
    return nil
}
