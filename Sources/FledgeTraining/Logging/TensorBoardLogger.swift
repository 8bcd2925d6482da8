import Foundation

/// Writes TensorBoard event files: `<directory>/events.out.tfevents.<unix time>.<hostname>`.
///
/// Format (tensorflow/core/util/event.proto, tensorflow/core/lib/io/record_writer.cc):
/// each record is `uint64 length | uint32 masked CRC32C(length) | data | uint32 masked CRC32C(data)`,
/// little endian. The first record is `Event{wall_time, file_version: "brain.Event:2"}`; then
/// every scalar of a record becomes one `Event{wall_time, step, summary{value{tag, simple_value}}}`
/// with tag `"<kind>/<key>"` (`train/loss`, `train/acc/0`, `eval/tau`), keys in sorted order.
/// An event's wall time is the run's start time plus the record's `time`, so the bytes depend on
/// the records and the start time only. A resumed run starts a new file; TensorBoard merges the
/// files of a directory and drops steps an older file logged past the restart.
public final class TensorBoardLogger: MetricsLogger {
    /// The event file.
    public let url: URL
    /// Unix time of the run's start, in seconds.
    public let startWallTime: Double
    private var handle: FileHandle?

    /// Creates a new event file in `directory` (created if missing) and writes its version event.
    /// - Parameters:
    ///   - startWallTime: Unix time of the run start; names the file and offsets every record's `time`.
    ///     On resume pass `now - resumedRecordTime`, so wall times stay real clock times.
    ///   - hostname: the file name's suffix.
    /// - Throws: `TrainingError` when the file cannot be created.
    public init(
        directory: URL, startWallTime: Double = Date().timeIntervalSince1970,
        hostname: String = ProcessInfo.processInfo.hostName
    ) throws {
        try LogFile.makeDirectory(directory)
        self.startWallTime = startWallTime
        url = directory.appendingPathComponent("events.out.tfevents.\(Int(startWallTime.rounded(.down))).\(hostname)")
        let first = Self.frame(EventEncoding.event(wallTime: startWallTime, fileVersion: "brain.Event:2"))
        try LogFile.replace(url, with: first)
        handle = try LogFile.openForAppending(url)
    }

    deinit { try? handle?.close() }

    /// Appends one event per scalar of `record`.
    public func log(_ record: MetricsRecord) throws {
        var data = Data()
        let wallTime = startWallTime + record.time
        for key in record.values.keys.sorted() {
            let event = EventEncoding.event(
                wallTime: wallTime, step: Int64(record.step),
                tag: "\(record.kind)/\(key)", value: Float(record.values[key]!))
            data.append(Self.frame(event))
        }
        try LogFile.append(data, to: handle, path: url)
    }

    /// Closes the file.
    public func close() throws {
        let open = handle
        handle = nil
        try LogFile.close(open, path: url)
    }

    /// TFRecord framing of one serialized message.
    static func frame(_ payload: [UInt8]) -> Data {
        var data = Data(capacity: payload.count + 16)
        let length = littleEndianBytes(UInt64(payload.count))
        data.append(contentsOf: length)
        data.append(contentsOf: littleEndianBytes(CRC32C.masked(length)))
        data.append(contentsOf: payload)
        data.append(contentsOf: littleEndianBytes(CRC32C.masked(payload)))
        return data
    }
}

/// Hand-written protobuf encoding of the few `Event` fields TensorBoard needs for scalars
/// (tensorflow/core/util/event.proto, tensorflow/core/framework/summary.proto).
///
/// Event: wall_time = 1 (double), step = 2 (int64), file_version = 3 (string), summary = 5.
/// Summary: value = 1 (repeated message). Summary.Value: tag = 1 (string), simple_value = 2 (float).
enum EventEncoding {
    private enum WireType: UInt8 { case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5 }

    /// `Event{wall_time, file_version}`.
    static func event(wallTime: Double, fileVersion: String) -> [UInt8] {
        var bytes: [UInt8] = []
        fixed64(1, wallTime.bitPattern, into: &bytes)
        lengthDelimited(3, Array(fileVersion.utf8), into: &bytes)
        return bytes
    }

    /// `Event{wall_time, step, summary{value{tag, simple_value}}}`.
    static func event(wallTime: Double, step: Int64, tag: String, value: Float) -> [UInt8] {
        var summaryValue: [UInt8] = []
        lengthDelimited(1, Array(tag.utf8), into: &summaryValue)
        key(2, .fixed32, into: &summaryValue)
        summaryValue.append(contentsOf: littleEndianBytes(value.bitPattern))
        var summary: [UInt8] = []
        lengthDelimited(1, summaryValue, into: &summary)
        var bytes: [UInt8] = []
        fixed64(1, wallTime.bitPattern, into: &bytes)
        key(2, .varint, into: &bytes)
        varint(UInt64(bitPattern: step), into: &bytes)
        lengthDelimited(5, summary, into: &bytes)
        return bytes
    }

    private static func key(_ field: UInt64, _ type: WireType, into bytes: inout [UInt8]) {
        varint(field << 3 | UInt64(type.rawValue), into: &bytes)
    }

    private static func fixed64(_ field: UInt64, _ value: UInt64, into bytes: inout [UInt8]) {
        key(field, .fixed64, into: &bytes)
        bytes.append(contentsOf: littleEndianBytes(value))
    }

    private static func lengthDelimited(_ field: UInt64, _ payload: [UInt8], into bytes: inout [UInt8]) {
        key(field, .lengthDelimited, into: &bytes)
        varint(UInt64(payload.count), into: &bytes)
        bytes.append(contentsOf: payload)
    }

    /// Base-128 varint, least significant group first (negative int64 take ten bytes).
    static func varint(_ value: UInt64, into bytes: inout [UInt8]) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(rest & 0x7F) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }
}

/// The little-endian bytes of a fixed-width integer.
func littleEndianBytes<Integer: FixedWidthInteger>(_ value: Integer) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian) { Array($0) }
}
