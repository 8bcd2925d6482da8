import Foundation
import Testing
@testable import FledgeData

@Suite struct DraftVocabularyTests {
    struct Case: Decodable { var counts: [Int]; var draft_size: Int }

    var folder: URL { DataTestAssets.fixtures.appendingPathComponent("vocab") }

    func temporary() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-vocab-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test(arguments: ["ties", "sparse"])
    func buildEqualsTheReferenceAndNumPyBytes(_ name: String) throws {
        let cases = try JSONDecoder().decode(
            [String: Case].self, from: Data(contentsOf: folder.appendingPathComponent("cases.json")))
        let item = try #require(cases[name])
        let built = try DraftVocabulary.build(counts: item.counts, draftSize: item.draft_size)
        let d2tURL = folder.appendingPathComponent("\(name).d2t.npy"),
            t2dURL = folder.appendingPathComponent("\(name).t2d.npy")
        let reference = try DraftVocabulary.load(d2t: d2tURL, t2d: t2dURL, targetSize: item.counts.count)
        #expect(built == reference)
        // Our .npy files are byte-identical to numpy.save's.
        #expect(NumPy.array(int64: built.d2t) == (try Data(contentsOf: d2tURL)))
        #expect(NumPy.array(bool: built.t2d) == (try Data(contentsOf: t2dURL)))
    }

    @Test func fewerDistinctTokensThanTheDraftSizeStillGiveAValidMap() throws {
        var counts = [Int](repeating: 0, count: 50)
        counts[40] = 3
        counts[2] = 3
        let vocabulary = try DraftVocabulary.build(counts: counts, draftSize: 5)
        #expect(vocabulary.targetIDs == [0, 1, 2, 3, 40])
        #expect(vocabulary.draftIndex(ofTarget: 40) == 4)
        #expect(vocabulary.draftIndex(ofTarget: 39) == nil)
        #expect(vocabulary.t2d.filter { $0 }.count == 5)
    }

    @Test func writesAndReloadsAllThreeFiles() throws {
        let vocabulary = try DraftVocabulary.build(counts: (0..<300).map { ($0 * 7919) % 13 }, draftSize: 100)
        let directory = try temporary()
        try vocabulary.write(to: directory)
        let fromNpy = try DraftVocabulary.load(
            d2t: directory.appendingPathComponent("d2t.npy"), t2d: directory.appendingPathComponent("t2d.npy"))
        let fromSafetensors = try DraftVocabulary.load(d2t: directory.appendingPathComponent("vocab.safetensors"))
        #expect(fromNpy == vocabulary && fromSafetensors == vocabulary)
    }

    @Test func mismatchesAreRefused() throws {
        let vocabulary = try DraftVocabulary.build(counts: [1, 2, 3, 4], draftSize: 2)
        let directory = try temporary()
        try vocabulary.write(to: directory)
        #expect {
            try DraftVocabulary.load(d2t: directory.appendingPathComponent("vocab.safetensors"), targetSize: 49152)
        } throws: {
            "\($0)".contains("49152")
        }
        #expect(throws: DataError.self) { try DraftVocabulary.build(counts: [1, 2], draftSize: 3) }
        #expect(throws: DataError.self) { try DraftVocabulary(d2t: [0, 0], t2d: [true, false, true]) }
        let junk = directory.appendingPathComponent("junk.npy")
        try Data("hello".utf8).write(to: junk)
        #expect(throws: DataError.self) { try NumPy.readInt64(junk) }
    }
}
