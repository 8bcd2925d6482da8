import FledgeTemplate
import Foundation

/// Settings of one `fledge data prepare` run.
public struct ConversationPreparationOptions: Sendable, Equatable {
    /// Conversation files, or folders searched recursively for `*.json`, `*.jsonl` and
    /// `*.ndjson` (hidden entries skipped, sorted by path).
    public var inputs: [String]
    /// Folder for `train.jsonl`, `eval.jsonl` and `manifest.json` (created if missing).
    public var outputDirectory: String
    /// Fraction held out for `eval.jsonl`, in [0, 1). Default 0.02: enough for a stable
    /// validation loss on ShareGPT-sized data; 0 writes every conversation to train.
    public var evalFraction: Double
    /// Seed of the train/eval split.
    public var seed: UInt64
    /// Stop after this many conversations are kept (in input order); nil reads everything.
    public var maxConversations: Int?
    /// Bytes per read.
    public var chunkSize: Int
    /// SHA-256 of each input file for the manifest (about 0.3 s per 100 MB in a release build).
    public var computeDigests: Bool
    /// Issues kept in the manifest (all are counted and passed to the callback).
    public var issueLimit: Int

    public static let defaultEvalFraction = 0.02

    public init(
        inputs: [String], outputDirectory: String, evalFraction: Double = defaultEvalFraction, seed: UInt64 = 0,
        maxConversations: Int? = nil, chunkSize: Int = JSONStreamReader.defaultChunkSize, computeDigests: Bool = true,
        issueLimit: Int = 100
    ) {
        self.inputs = inputs
        self.outputDirectory = outputDirectory
        self.evalFraction = evalFraction
        self.seed = seed
        self.maxConversations = maxConversations
        self.chunkSize = chunkSize
        self.computeDigests = computeDigests
        self.issueLimit = issueLimit
    }

    /// - Throws: `DataError.invalidOption` for a value out of range.
    public func validate() throws {
        if inputs.isEmpty {
            throw DataError(.noInputs, "no input files or folders", hint: "name at least one conversation file")
        }
        guard evalFraction >= 0, evalFraction < 1 else {
            throw DataError(
                .invalidOption, "eval fraction \(evalFraction) is outside [0, 1)",
                hint: "use e.g. 0.02, or 0 for no eval split")
        }
        if let maxConversations, maxConversations < 1 {
            throw DataError(
                .invalidOption, "max conversations \(maxConversations) is not positive",
                hint: "leave it out to read everything")
        }
        guard chunkSize > 0, issueLimit >= 0 else {
            throw DataError(.invalidOption, "chunk size and issue limit must be positive")
        }
    }
}

/// How far a run is, for progress displays (bytes are over all inputs).
public struct ConversationPreparationProgress: Sendable {
    public var file: String
    public var fileIndex: Int
    public var fileCount: Int
    public var bytesRead: Int
    public var totalBytes: Int
    public var recordsRead: Int
    public var kept: Int
    public var elapsedSeconds: Double

    /// Records per second so far.
    public var recordsPerSecond: Double { elapsedSeconds > 0 ? Double(recordsRead) / elapsedSeconds : 0 }
    /// Remaining time extrapolated from the bytes read so far.
    public var etaSeconds: Double? {
        guard bytesRead > 0, elapsedSeconds > 0 else { return nil }
        return elapsedSeconds * Double(max(totalBytes - bytesRead, 0)) / Double(bytesRead)
    }
}

/// The result of a run.
public struct ConversationPreparationSummary: Sendable {
    /// What was written to `manifest.json`.
    public var manifest: PreparedDatasetManifest
    public var outputDirectory: URL
    public var elapsedSeconds: Double
    /// Bytes of all inputs read.
    public var bytesRead: Int
}

/// `fledge data prepare` as a library call: reads conversation files (ShareGPT or OpenAI
/// style, JSON arrays or JSON Lines) streaming, normalises roles (`RoleNormalisation`),
/// repairs or skips conversations (`RepairRules`), drops duplicates and names them
/// (`ConversationIdentity`), splits train/eval (`DatasetSplit`) and writes the folder
/// (`PreparedDatasetWriter`, `PreparedDatasetManifest`).
///
/// Memory: one read chunk, one record and 16 bytes + the id per kept conversation (the
/// de-duplication set), whatever the input size. A bad record never stops the run: it is
/// skipped, counted by reason and reported to `issue` with its file and record index.
public struct ConversationPreparer {
    public var options: ConversationPreparationOptions

    public init(options: ConversationPreparationOptions) {
        self.options = options
    }

    /// Runs the preparation.
    /// - Parameters:
    ///   - progress: called after every 4 MiB read and at the end of each file.
    ///   - issue: called for every problem found in the inputs (the run goes on).
    /// - Throws: `DataError` when an input cannot be found, opened or read, is in no
    ///   supported layout, holds no usable conversation at all (`.noConversations`), or the
    ///   output cannot be written; no output file is left behind under a final name then.
    public func run(
        progress: ((ConversationPreparationProgress) -> Void)? = nil, issue: ((DataError) -> Void)? = nil
    ) throws -> ConversationPreparationSummary {
        try options.validate()
        let output = URL(fileURLWithPath: options.outputDirectory)
        let files = try Self.conversationFiles(in: options.inputs, excluding: output)
        var run = PreparationRun(options: options, files: files, progress: progress, issue: issue)
        let writer = try PreparedDatasetWriter(directory: output)
        do {
            try run.readAll(into: writer)
            try run.checkSomethingKept()
            try writer.finish(manifest: run.manifest)
        } catch {
            writer.abandon()
            throw error
        }
        return ConversationPreparationSummary(
            manifest: run.manifest, outputDirectory: output,
            elapsedSeconds: run.elapsed, bytesRead: run.bytesBefore)
    }
}

/// The mutable state of one run.
private struct PreparationRun {
    let options: ConversationPreparationOptions
    let files: [(path: String, bytes: Int)]
    let progress: ((ConversationPreparationProgress) -> Void)?
    let issue: ((DataError) -> Void)?
    var manifest: PreparedDatasetManifest
    var identity = ConversationIdentity()
    let start = Date()
    var bytesBefore = 0
    var nextProgressAt = 0
    var stop = false

    init(
        options: ConversationPreparationOptions, files: [(path: String, bytes: Int)],
        progress: ((ConversationPreparationProgress) -> Void)?, issue: ((DataError) -> Void)?
    ) {
        self.options = options
        self.files = files
        self.progress = progress
        self.issue = issue
        manifest = PreparedDatasetManifest(
            evalFraction: options.evalFraction, seed: options.seed,
            maxConversations: options.maxConversations)
    }

    var elapsed: Double { Date().timeIntervalSince(start) }
    var totalBytes: Int { files.reduce(0) { $0 + $1.bytes } }

    mutating func readAll(into writer: PreparedDatasetWriter) throws {
        for (index, file) in files.enumerated() where !stop {
            try read(file.path, index: index, into: writer)
        }
    }

    /// Inputs without a single usable conversation are an error, not an empty dataset.
    func checkSomethingKept() throws {
        guard manifest.counts.kept == 0 else { return }
        let counts = manifest.counts
        let skipped = counts.skipped.filter { $0.value > 0 }.sorted { $0.key < $1.key }
            .map { "\($0.key) \($0.value)" }
        var detail = "\(counts.recordsRead) records read"
        if counts.duplicates > 0 { detail += ", \(counts.duplicates) duplicates" }
        if !skipped.isEmpty { detail += ", skipped: " + skipped.joined(separator: ", ") }
        throw DataError(
            .noConversations,
            "no usable conversation in \(files.map(\.path).joined(separator: ", ")) (\(detail))",
            hint: counts.recordsRead == 0
                ? "the input holds no records; check that it is the right file"
                : "see the issues above for why each record was skipped")
    }

    private mutating func read(_ path: String, index: Int, into writer: PreparedDatasetWriter) throws {
        let reader = try JSONStreamReader(
            path: path, chunkSize: options.chunkSize, computeDigest: options.computeDigests)
        while !stop, let record = try reader.next() {
            manifest.counts.recordsRead += 1
            try handle(record, file: path, writer: writer)
            if reader.bytesRead >= nextProgressAt {
                report(path, index: index, bytesInFile: reader.bytesRead)
                nextProgressAt = reader.bytesRead + (4 << 20)
            }
        }
        if let truncation = reader.truncation {
            let code: DataError.Code = .truncatedFile
            record(
                DataError(
                    code, truncation.message,
                    at: .init(file: path, record: truncation.recordsRecovered, byteOffset: truncation.byteOffset),
                    hint: "the complete records before this offset were kept; re-download the file for the rest"))
        }
        if let offset = reader.trailingDataOffset {
            record(
                DataError(
                    .unsupportedLayout, "bytes after the JSON array's closing ']' were ignored",
                    at: .init(file: path, byteOffset: offset), hint: "a file holds one JSON array"))
        }
        manifest.inputs.append(
            PreparedDatasetManifest.Input(
                path: path, bytes: reader.fileSize, modificationTime: Self.modificationTime(path),
                sha256: reader.sha256,
                layout: reader.layout, records: reader.recordCount, truncation: reader.truncation))
        report(path, index: index, bytesInFile: reader.bytesRead)
        bytesBefore += reader.bytesRead
        nextProgressAt = 0
    }

    private mutating func handle(_ raw: RawJSONRecord, file: String, writer: PreparedDatasetWriter) throws {
        let location = DataError.Location(file: file, record: raw.index, line: raw.line, byteOffset: raw.byteOffset)
        if let problem = raw.problem {
            skip(.malformedJSON)
            self.record(
                DataError(
                    .malformedRecord, "not valid JSON (\(problem)); reading resumed at the next record",
                    at: location, hint: "fix or remove this record"))
            return
        }
        let record: ConversationRecord
        do {
            record = try ConversationRecord.parse(raw.bytes)
        } catch var error as DataError {
            error.location = location
            skip(Self.reason(for: error.code))
            self.record(error)
            return
        }
        guard let turns = normalise(record, at: location) else { return }
        switch RepairRules.apply(turns) {
        case .failure(let reason):
            skip(reason)
        case .success(let repaired):
            try keep(
                repaired.messages, repairs: repaired.repairs, record: record, source: "\(file):\(raw.index)",
                writer: writer)
        }
    }

    /// Counts roles and maps them; nil (and the record skipped) when one is unknown.
    private mutating func normalise(
        _ record: ConversationRecord, at location: DataError.Location
    ) -> [(role: ConversationRole, content: String)]? {
        var turns: [(role: ConversationRole, content: String)] = []
        turns.reserveCapacity(record.turns.count)
        var unknown: String?
        for turn in record.turns {
            manifest.roles[turn.role, default: 0] += 1
            if let role = RoleNormalisation.role(for: turn.role) {
                turns.append((role, turn.content))
            } else {
                if manifest.unknownRoles[turn.role] == nil {
                    self.record(
                        DataError(
                            .unknownRole,
                            "unknown role \"\(turn.role)\" (first use; conversations with it are skipped)",
                            at: location,
                            hint: "known roles: " + RoleNormalisation.table.keys.sorted().joined(separator: ", ")))
                }
                manifest.unknownRoles[turn.role, default: 0] += 1
                unknown = unknown ?? turn.role
            }
        }
        if unknown != nil {
            skip(.unknownRole)
            return nil
        }
        return turns
    }

    private mutating func keep(
        _ messages: [ChatMessage], repairs: [ConversationRepair: Int], record: ConversationRecord,
        source: String, writer: PreparedDatasetWriter
    ) throws {
        guard let (id, renamed) = identity.admit(messages, recordID: record.id) else {
            manifest.counts.duplicates += 1
            return
        }
        for (repair, count) in repairs { manifest.counts.repairs[repair.rawValue, default: 0] += count }
        if !repairs.isEmpty { manifest.counts.conversationsRepaired += 1 }
        if renamed { manifest.counts.idsRenamed += 1 }
        for message in messages { manifest.counts.messages[message.role, default: 0] += 1 }
        let toEval = DatasetSplit.isEval(id: id, seed: options.seed, evalFraction: options.evalFraction)
        try writer.append(PreparedConversation(id: id, source: source, messages: messages), toEval: toEval)
        manifest.counts.kept += 1
        if toEval { manifest.counts.eval += 1 } else { manifest.counts.train += 1 }
        if let limit = options.maxConversations, manifest.counts.kept >= limit {
            manifest.counts.stoppedAtMaxConversations = true
            stop = true
        }
    }

    private mutating func skip(_ reason: ConversationSkipReason) {
        manifest.counts.skipped[reason.rawValue, default: 0] += 1
    }

    private mutating func record(_ error: DataError) {
        manifest.issueCount += 1
        if manifest.issues.count < options.issueLimit { manifest.issues.append(PreparedDatasetManifest.Issue(error)) }
        issue?(error)
    }

    private func report(_ path: String, index: Int, bytesInFile: Int) {
        progress?(
            ConversationPreparationProgress(
                file: path, fileIndex: index, fileCount: files.count, bytesRead: bytesBefore + bytesInFile,
                totalBytes: totalBytes,
                recordsRead: manifest.counts.recordsRead, kept: manifest.counts.kept, elapsedSeconds: elapsed))
    }

    private static func reason(for code: DataError.Code) -> ConversationSkipReason {
        switch code {
        case .invalidUTF8: return .invalidUTF8
        case .malformedRecord: return .malformedJSON
        default: return .notAConversation
        }
    }

    private static func modificationTime(_ path: String) -> String {
        let date =
            (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date)
            ?? Date(timeIntervalSince1970: 0)
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }
}
