import Foundation
import Testing
@testable import FledgeWeights
import FledgeTensor
import FledgeTestSupport

/// Mutants of a safetensors file's header through ``SafetensorsFile``: every mutant ends in
/// success or an error with a message; an accepted file's tensors read within their bytes.
/// `FLEDGE_FUZZ_COUNT` sets the count (`make fuzz`).
@Suite struct SafetensorsFuzzTests {
    @Test func headerMutants() throws {
        let fixtures = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        let original = try Data(contentsOf: fixtures.appendingPathComponent("mixed.safetensors"))
        let headerLength = original.prefix(8).withUnsafeBytes { Int($0.loadUnaligned(as: UInt64.self).littleEndian) }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-st-fuzz-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("mutant.safetensors")
        let report = FuzzReport.run(
            seed: 15_003, count: FuzzReport.count(default: 400),
            make: { mutator in
                // Half the mutants edit the JSON text of the header, half its bytes.
                guard mutator.below(2) == 0 else { return mutator.mutate(original, headerLimit: 8 + headerLength) }
                let header = String(decoding: original[8..<(8 + headerLength)], as: UTF8.self)
                let text = Data(mutator.mutateText(header).utf8)
                var length = UInt64(text.count).littleEndian
                return Data(bytes: &length, count: 8) + text + original[(8 + headerLength)...]
            }
        ) { mutant in
            try mutant.write(to: url)
            let file = try SafetensorsFile(url: url)
            for name in file.names {
                let entry = try #require(file.entries[name])
                if entry.dtype.isFloatingPoint { _ = try file.tensor(name) } else { _ = try file.integers(name) }
            }
        }
        print("safetensors fuzz: \(report)")
        #expect(report.silentErrors.isEmpty && report.slow.isEmpty, "\(report.silentErrors) \(report.slow)")
        #expect(report.rejected > 0)
    }
}

/// Hostile safetensors and GGUF headers of issue 15, one test each.
@Suite struct HostileWeightsFileTests {
    func failure(_ data: Data, name: String = "bad.safetensors") throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-hostile-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent(name)
        try data.write(to: url)
        do {
            if name.hasSuffix(".gguf") { _ = try GGUFFile(url: url) } else { _ = try SafetensorsFile(url: url) }
        } catch {
            return "\(error)"
        }
        Issue.record("accepted")
        return ""
    }

    func file(header: String, data: Int) -> Data {
        var length = UInt64(header.utf8.count).littleEndian
        return Data(bytes: &length, count: 8) + Data(header.utf8) + Data(count: data)
    }

    @Test func headerLengthPrintedUnsigned() throws {
        var bytes = file(header: "{}", data: 0)
        for i in 0..<8 { bytes[i] = 0xFF }
        let message = try failure(bytes)
        #expect(message.contains("header length 18446744073709551615"), "\(message)")
    }

    @Test func shapesThatOverflow() throws {
        let header =
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4611686018427387904],\"data_offsets\":[0,0]}}"
        let message = try failure(file(header: header, data: 8))
        #expect(message.contains("tensor a: shape"), "\(message)")
        let wide = "{\"a\":{\"dtype\":\"F32\",\"shape\":[18446744073709551615],\"data_offsets\":[0,4]}}"
        #expect(try failure(file(header: wide, data: 8)).contains("non-negative integers"))
        let fraction = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}"
        #expect(try failure(file(header: fraction, data: 8)).contains("non-negative integers"))
    }

    @Test func offsetsNear2To64() throws {
        for offsets in ["[9223372036854775800,9223372036854775807]", "[0,18446744073709551615]", "[8,4]"] {
            let header = "{\"a\":{\"dtype\":\"U8\",\"shape\":[7],\"data_offsets\":\(offsets)}}"
            let message = try failure(file(header: header, data: 8))
            #expect(message.contains("tensor a"), "\(message)")
        }
    }

    @Test func aFolderNamedLikeTheFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-hostile-\(UUID())")
        let url = folder.appendingPathComponent("model.safetensors")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect {
            _ = try SafetensorsCheckpoint(directory: folder)
        } throws: { error in
            "\(error)".contains("model.safetensors: is a folder") && !"\(error)".contains("NSCocoaErrorDomain")
        }
        #expect { _ = try GGUFFile(url: url) } throws: { "\($0)".contains("is a folder") }
    }

    @Test func ggufArrayOfArraysNestedDeeply() throws {
        // magic, version 3, 0 tensors, 1 key "k" of type array (9) of arrays (9) ... nested 100 deep.
        var bytes =
            [UInt8]("GGUF".utf8) + [3, 0, 0, 0] + [UInt8](repeating: 0, count: 8) + [1]
            + [UInt8](repeating: 0, count: 7)
        bytes += [1, 0, 0, 0, 0, 0, 0, 0] + [UInt8]("k".utf8) + [9, 0, 0, 0]
        for _ in 0..<100 { bytes += [9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0] }
        bytes += [UInt8](repeating: 0, count: 64)
        let message = try failure(Data(bytes), name: "deep.gguf")
        #expect(message.contains("nested"), "\(message)")
    }
}
