import Foundation
import Testing
@testable import FledgeTraining

@Suite("TensorBoard event files")
struct TensorBoardLoggerTests {
    /// The records behind `Fixtures/tensorboard` (see its README): steps up to 300 (two-byte
    /// varints), values that float32 rounds (0.1, 9.8e-5), train and eval.
    static let fixtureRecords: [MetricsRecord] = [
        MetricsRecord(
            kind: "train", step: 1, epoch: 0.01,
            values: [
                "loss": 9.5, "acc/0": 0.1, "acc/1": 0.05, "lr": 9.8e-5,
                "tokens_per_second": 412.5,
            ], time: 5.25),
        MetricsRecord(
            kind: "train", step: 2, epoch: 0.02,
            values: [
                "loss": 7.125, "acc/0": 0.3, "acc/1": 0.2, "lr": 9.6e-5,
                "tokens_per_second": 420,
            ], time: 10.5),
        MetricsRecord(
            kind: "eval", step: 2, epoch: 0.02, values: ["loss": 7.5, "acc/0": 0.25, "tau": 1.375], time: 12),
        MetricsRecord(
            kind: "train", step: 300, epoch: 3,
            values: [
                "loss": 2.0625, "acc/0": 0.7, "acc/1": 0.55, "lr": 1e-6,
                "tokens_per_second": 431.25,
            ], time: 1575.75),
    ]
    static let fixtureStart = 1_700_000_000.25
    static let fixtureHost = "fledge-fixture"
    static let fixtureFolder = LoggingTestSupport.fixtures.appendingPathComponent("tensorboard")
    static let fixtureName = "events.out.tfevents.1700000000.fledge-fixture"

    static func writeFixtureRecords(to directory: URL) throws -> URL {
        let logger = try TensorBoardLogger(directory: directory, startWallTime: fixtureStart, hostname: fixtureHost)
        for record in fixtureRecords { try logger.log(record) }
        try logger.close()
        return logger.url
    }

    @Test("CRC32C matches the standard check values")
    func crc32c() {
        #expect(CRC32C.checksum("123456789".utf8) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)  // RFC 3720 B.4
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        let crc = CRC32C.checksum("123456789".utf8)
        #expect(CRC32C.masked("123456789".utf8) == ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8)
    }

    @Test("protobuf varints and the version event are encoded as protoc does")
    func protobufEncoding() {
        var bytes: [UInt8] = []
        EventEncoding.varint(300, into: &bytes)
        #expect(bytes == [0xAC, 0x02])
        bytes = []
        EventEncoding.varint(UInt64(bitPattern: -1), into: &bytes)
        #expect(bytes == [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        // Event{wall_time: 1.0, file_version: "brain.Event:2"}
        #expect(
            EventEncoding.event(wallTime: 1, fileVersion: "brain.Event:2")
                == [0x09, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F, 0x1A, 13] + Array("brain.Event:2".utf8))
        // Event{wall_time: 0, step: 5, summary{value{tag: "a", simple_value: 1.0}}}
        #expect(
            EventEncoding.event(wallTime: 0, step: 5, tag: "a", value: 1)
                == [0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 5, 0x2A, 10, 0x0A, 8, 0x0A, 1, 0x61, 0x15, 0, 0, 0x80, 0x3F])
    }

    @Test("TFRecord framing: length, masked CRCs, one record per scalar")
    func framing() throws {
        let directory = try LoggingTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = try Self.writeFixtureRecords(to: directory)
        #expect(url.lastPathComponent == Self.fixtureName)
        let bytes = [UInt8](try Data(contentsOf: url))
        var offset = 0, payloads: [[UInt8]] = []
        func read<T: FixedWidthInteger>(_: T.Type) -> T {
            defer { offset += MemoryLayout<T>.size }
            return bytes[offset..<offset + MemoryLayout<T>.size].reversed().reduce(T(0)) { $0 << 8 | T($1) }
        }
        while offset < bytes.count {
            let lengthBytes = Array(bytes[offset..<offset + 8])
            let length = Int(read(UInt64.self))
            #expect(read(UInt32.self) == CRC32C.masked(lengthBytes))
            let payload = Array(bytes[offset..<offset + length])
            offset += length
            #expect(read(UInt32.self) == CRC32C.masked(payload))
            payloads.append(payload)
        }
        #expect(offset == bytes.count)
        #expect(payloads.count == 1 + Self.fixtureRecords.map(\.values.count).reduce(0, +))
        #expect(payloads.first == EventEncoding.event(wallTime: Self.fixtureStart, fileVersion: "brain.Event:2"))
    }

    @Test("the event file is byte-identical to the committed one that TensorBoard read")
    func bytesMatchFixture() throws {
        let directory = try LoggingTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = try Self.writeFixtureRecords(to: directory)
        if let target = ProcessInfo.processInfo.environment["FLEDGE_WRITE_TENSORBOARD_FIXTURE"] {
            // Regeneration (see Fixtures/tensorboard/README.md); the comparison below still runs.
            try Data(contentsOf: url).write(to: URL(fileURLWithPath: target).appendingPathComponent(Self.fixtureName))
        }
        let fixture = try Data(contentsOf: Self.fixtureFolder.appendingPathComponent(Self.fixtureName))
        #expect(try Data(contentsOf: url) == fixture)
    }

    @Test("TensorBoard's EventAccumulator read every scalar with its step, wall time and float32 value")
    func tensorBoardReadTheFixture() throws {
        let json = try Data(contentsOf: Self.fixtureFolder.appendingPathComponent("scalars.json"))
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        let scalars = try #require(object["scalars"] as? [String: [[String: Any]]])
        var expected: [String: [(step: Int, wallTime: Double, value: Float)]] = [:]
        for record in Self.fixtureRecords {
            for (key, value) in record.values {
                expected["\(record.kind)/\(key)", default: []].append(
                    (record.step, Self.fixtureStart + record.time, Float(value)))
            }
        }
        #expect(Set(scalars.keys) == Set(expected.keys))
        for (tag, events) in expected {
            let read = try #require(scalars[tag], "TensorBoard did not see \(tag)")
            #expect(read.count == events.count, "\(tag)")
            for (event, seen) in zip(events, read) {
                #expect(seen["step"] as? Int == event.step, "\(tag)")
                #expect((seen["wall_time"] as? NSNumber)?.doubleValue == event.wallTime, "\(tag)")
                #expect((seen["value"] as? NSNumber).map { Float($0.doubleValue) } == event.value, "\(tag)")
            }
        }
    }
}
