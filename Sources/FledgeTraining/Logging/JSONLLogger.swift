import Foundation

/// Appends one JSON object per line to `<directory>/metrics.jsonl`, written through to the file
/// per record.
///
/// A line is `{"epoch":…,"kind":"train","step":…,"time":…,"values":{…}}` with sorted keys;
/// non-finite values are written as the strings `"nan"`, `"inf"`, `"-inf"`. On resume from step
/// `s`, records with `step > s` (written after the checkpoint the run resumes from) are dropped by
/// rewriting the file atomically, so the finished log equals the one an uninterrupted run writes.
public final class JSONLLogger: MetricsLogger {
    /// The file name inside the run directory.
    public static let fileName = "metrics.jsonl"

    /// The log file.
    public let url: URL
    private var handle: FileHandle?

    /// Opens `<directory>/metrics.jsonl`.
    /// - Parameters:
    ///   - directory: the run directory (created if missing).
    ///   - resumedStep: `nil` for a fresh run (any existing log is replaced by an empty one);
    ///     otherwise the optimizer step of the checkpoint being resumed: records with a larger step
    ///     are dropped and new records are appended.
    /// - Throws: `TrainingError` when the directory or file cannot be written, or an existing log
    ///   has a malformed line.
    public init(directory: URL, resumedStep: Int? = nil) throws {
        try LogFile.makeDirectory(directory)
        url = directory.appendingPathComponent(Self.fileName)
        if let resumedStep, FileManager.default.fileExists(atPath: url.path) {
            let kept = try Self.read(from: url).filter { $0.step <= resumedStep }
            var data = Data()
            for record in kept { data.append(try Self.encode(record, path: url)) }
            try LogFile.replace(url, with: data)
        } else {
            try LogFile.replace(url, with: Data())
        }
        handle = try LogFile.openForAppending(url)
    }

    deinit { try? handle?.close() }

    /// Appends `record` as one line.
    public func log(_ record: MetricsRecord) throws {
        try LogFile.append(try Self.encode(record, path: url), to: handle, path: url)
    }

    /// Closes the file.
    public func close() throws {
        let open = handle
        handle = nil
        try LogFile.close(open, path: url)
    }

    /// Reads every record of a metrics file. A last line without its newline (a write cut short by
    /// a crash) is ignored; any other malformed line throws.
    /// - Throws: `TrainingError` with the path and line number.
    public static func read(from url: URL) throws -> [MetricsRecord] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TrainingError(
                "\(url.path): cannot read the metrics log", hint: "check that the run directory is right")
        }
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        lines.removeLast()  // empty after the final newline, or a partial line cut short
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        var records: [MetricsRecord] = []
        for (index, line) in lines.enumerated() where !line.isEmpty {
            do {
                records.append(try decoder.decode(MetricsRecord.self, from: Data(line)))
            } catch {
                throw TrainingError(
                    "\(url.path):\(index + 1): not a metrics record",
                    hint: "the log was edited or corrupted; delete the line or start a fresh run")
            }
        }
        return records
    }

    /// One record as a JSON line (sorted keys, trailing newline).
    static func encode(_ record: MetricsRecord, path: URL) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do {
            var data = try encoder.encode(record)
            data.append(UInt8(ascii: "\n"))
            return data
        } catch {
            throw TrainingError("\(path.path): cannot encode the record for step \(record.step)", hint: "\(error)")
        }
    }
}
