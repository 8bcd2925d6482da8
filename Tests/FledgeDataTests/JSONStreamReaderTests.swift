import Foundation
import Testing

@testable import FledgeData

/// A fresh folder under the system temporary folder, removed by `remove()`.
struct ScratchFolder {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-data-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// Writes `bytes` to `name` and returns its path.
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let file = url.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: file)
        return file.path
    }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String { try write(name, Array(text.utf8)) }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

enum ConversationFixtures {
    static var root: URL { DataTestAssets.fixtures.appendingPathComponent("conversations") }
    static var formats: URL { root.appendingPathComponent("formats") }
    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
}

/// Every record of `path` as text, with the reader's final state.
private func readAll(
    _ path: String, chunkSize: Int = JSONStreamReader.defaultChunkSize
) throws -> (records: [RawJSONRecord], reader: JSONStreamReader) {
    let reader = try JSONStreamReader(path: path, chunkSize: chunkSize)
    var records: [RawJSONRecord] = []
    while let record = try reader.next() { records.append(record) }
    return (records, reader)
}

private func text(_ record: RawJSONRecord) -> String { String(decoding: record.bytes, as: UTF8.self) }

@Suite struct JSONStreamReaderTests {
    @Test func arrayElementsAreCutAtTheirClosingBracketWhateverTheStringsHold() throws {
        let (records, reader) = try readAll(ConversationFixtures.path("formats/sharegpt.json"))
        #expect(reader.layout == .jsonArray)
        #expect(records.count == 12)
        #expect(reader.truncation == nil)
        #expect(reader.isFinished)
        for record in records {
            let object = try JSONSerialization.jsonObject(with: Data(record.bytes)) as? [String: Any]
            #expect(
                object?["conversations"] != nil, "record \(record.index) was cut wrongly: \(text(record).prefix(80))")
        }
        #expect(text(records[0]).hasPrefix("{") && text(records[0]).hasSuffix("}"))
        #expect(records.map(\.index) == Array(0..<12))
        let file = try Data(contentsOf: URL(fileURLWithPath: ConversationFixtures.path("formats/sharegpt.json")))
        for record in records {
            #expect(
                Array(file[record.byteOffset..<record.byteOffset + record.bytes.count]) == record.bytes,
                "offset of record \(record.index)")
        }
    }

    @Test(arguments: [1, 2, 3, 7, 16, 61, 1 << 20])
    func everyChunkSizeCutsTheSameRecords(chunkSize: Int) throws {
        for file in [
            "formats/sharegpt.json", "formats/openai.jsonl", "truncated/truncated.json", "truncated/truncated.jsonl",
        ] {
            let reference = try readAll(ConversationFixtures.path(file))
            let chunked = try readAll(ConversationFixtures.path(file), chunkSize: chunkSize)
            #expect(
                chunked.records.map(\.bytes) == reference.records.map(\.bytes), "\(file) with \(chunkSize)-byte chunks")
            #expect(chunked.records.map(\.byteOffset) == reference.records.map(\.byteOffset))
            #expect(chunked.reader.truncation == reference.reader.truncation)
            #expect(chunked.reader.sha256 == reference.reader.sha256)
        }
    }

    @Test func jsonLinesSkipBlankLinesAndStripCarriageReturns() throws {
        let (records, reader) = try readAll(ConversationFixtures.path("formats/openai.jsonl"))
        #expect(reader.layout == .jsonLines)
        #expect(records.count == 4)
        #expect(records.map(\.line) == [1, 3, 4, 5])
        #expect(records.map(\.index) == [0, 1, 2, 3])
        #expect(records.last?.bytes.last == UInt8(ascii: "}"))
    }

    @Test func aTruncatedArrayYieldsTheCompleteRecordsAndTheOffsetOfTheIncompleteOne() throws {
        let path = ConversationFixtures.path("truncated/truncated.json")
        let (records, reader) = try readAll(path)
        #expect(records.count == 2)
        let truncation = try #require(reader.truncation)
        let file = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let expectedOffset = try #require(file.firstRange(of: Array("{\n    \"id\": \"t-2\"".utf8))).lowerBound
        #expect(truncation.byteOffset == expectedOffset)
        #expect(truncation.droppedBytes == file.count - expectedOffset)
        #expect(truncation.recordsRecovered == 2)
        #expect(truncation.message.contains("byte \(expectedOffset)"))
    }

    @Test func aTruncatedLastLineIsATruncationNotAMalformedRecord() throws {
        let path = ConversationFixtures.path("truncated/truncated.jsonl")
        let (records, reader) = try readAll(path)
        #expect(records.count == 2)
        let truncation = try #require(reader.truncation)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(
            separator: "\n", omittingEmptySubsequences: false)
        #expect(truncation.byteOffset == lines[0].utf8.count + 1 + lines[1].utf8.count + 1)
        #expect(truncation.droppedBytes == lines[2].utf8.count)
    }

    @Test func aCompleteLastLineWithoutNewlineIsARecord() throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let path = try scratch.write("a.jsonl", "{\"a\": 1}\n{\"b\": \"}\"}")
        let (records, reader) = try readAll(path)
        #expect(records.map(text) == ["{\"a\": 1}", "{\"b\": \"}\"}"])
        #expect(reader.truncation == nil)
    }

    @Test func anArrayWithoutItsClosingBracketWarnsWithoutDroppingRecords() throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let path = try scratch.write("a.json", "[{\"a\": 1},\n {\"b\": [2, 3]}\n")
        let (records, reader) = try readAll(path)
        #expect(records.map(text) == ["{\"a\": 1}", "{\"b\": [2, 3]}"])
        let truncation = try #require(reader.truncation)
        #expect(truncation.droppedBytes == 0)
        #expect(truncation.byteOffset == reader.fileSize)
    }

    @Test func bareValuesAndStrayBytesBecomeRecordsForTheParserToReject() throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let path = try scratch.write("a.json", "[ {\"a\": 1} , 42 , \"s,]\" , tru , {\"b\": 2} ] trailing")
        let (records, reader) = try readAll(path)
        #expect(records.map(text) == ["{\"a\": 1}", "42", "\"s,]\"", "tru", "{\"b\": 2}"])
        #expect(reader.trailingDataOffset == reader.fileSize - "trailing".utf8.count)
        #expect(reader.truncation == nil)
    }

    @Test func byteOrderMarkEmptyFilesAndOtherLayouts() throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let bom = try scratch.write("bom.json", [0xEF, 0xBB, 0xBF] + Array("[{\"a\":1}]".utf8))
        #expect(try readAll(bom).records.map(text) == ["{\"a\":1}"])
        let empty = try scratch.write("empty.jsonl", " \n\n ")
        let (records, reader) = try readAll(empty)
        #expect(records.isEmpty)
        #expect(reader.layout == .empty)
        #expect(reader.truncation == nil)
        let csv = try scratch.write("data.csv", "id,text\n1,hello\n")
        #expect {
            _ = try JSONStreamReader(path: csv)
        } throws: { error in
            (error as? DataError)?.code == .unsupportedLayout && (error as? DataError)?.location.file == csv
        }
        #expect(throws: DataError.self) {
            _ = try JSONStreamReader(path: scratch.url.appendingPathComponent("missing.json").path)
        }
    }

    @Test func theDigestIsTheSHA256OfTheWholeFile() throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let path = try scratch.write("abc.jsonl", "{\"a\": \"abc\"}\n")
        let (_, reader) = try readAll(path, chunkSize: 5)
        // sha256sum of the 13 bytes above.
        #expect(reader.sha256 == SHA256Hasher.hex(of: Array("{\"a\": \"abc\"}\n".utf8)))
        #expect(
            SHA256Hasher.hex(of: Array("abc".utf8))
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256Hasher.hex(of: [UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let long = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(SHA256Hasher.hex(of: long) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var pieces = SHA256Hasher()
        for byte in long { pieces.update([byte]) }
        #expect(SHA256Hasher.hexString(pieces.finalize()) == SHA256Hasher.hex(of: long))
    }
}
