import Foundation

extension ConversationPreparer {
    /// File name extensions searched for under a folder input.
    public static let conversationExtensions: Set<String> = ["json", "jsonl", "ndjson"]

    /// The files `inputs` name, in order, with their sizes: a file as given (any
    /// extension), a folder as its `*.json` / `*.jsonl` / `*.ndjson` files found recursively,
    /// sorted by path, skipping hidden entries and anything under `excluding` (the output
    /// folder, so a rerun never reads its own output). A file named twice is read once.
    /// - Throws: `DataError.unreadableInput` for a path that does not exist,
    ///   `DataError.noInputs` when no file is found.
    public static func conversationFiles(
        in inputs: [String], excluding: URL? = nil
    ) throws -> [(path: String, bytes: Int)] {
        let manager = FileManager.default
        let excludedPrefix = excluding.map { $0.standardizedFileURL.path + "/" }
        var files: [(path: String, bytes: Int)] = []
        var seen = Set<String>()
        func add(_ path: String) {
            let standard = URL(fileURLWithPath: path).standardizedFileURL.path
            if let excludedPrefix, standard.hasPrefix(excludedPrefix) { return }
            guard seen.insert(standard).inserted else { return }
            let size = (try? manager.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
            files.append((path, size))
        }
        for input in inputs {
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: input, isDirectory: &isDirectory) else {
                throw DataError(
                    .unreadableInput, "no such file or folder", at: .init(file: input), hint: "check the path")
            }
            guard isDirectory.boolValue else {
                add(input)
                continue
            }
            let root = URL(fileURLWithPath: input)
            let enumerator = manager.enumerator(
                at: root, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles])
            var found: [String] = []
            while let url = enumerator?.nextObject() as? URL {
                guard conversationExtensions.contains(url.pathExtension.lowercased()),
                    (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true
                else { continue }
                let relative = String(url.standardizedFileURL.path.dropFirst(root.standardizedFileURL.path.count))
                found.append((input.hasSuffix("/") ? String(input.dropLast()) : input) + relative)
            }
            found.sort()
            found.forEach(add)
        }
        guard !files.isEmpty else {
            throw DataError(
                .noInputs, "no conversation files in \(inputs.joined(separator: ", "))",
                hint: "folders are searched for *.json, *.jsonl and *.ndjson files")
        }
        return files
    }
}
