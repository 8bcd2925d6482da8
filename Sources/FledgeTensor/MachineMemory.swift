import Foundation

/// The machine's memory and this process's use of it (Linux `/proc`; elsewhere what
/// Foundation knows), for memory plans and benchmark reports.
public enum MachineMemory {
    /// Physical memory in bytes (`MemTotal`).
    public static var total: Int { meminfo("MemTotal") ?? Int(ProcessInfo.processInfo.physicalMemory) }

    /// Memory a new allocation can take without swapping (`MemAvailable`), or the total.
    public static var available: Int { meminfo("MemAvailable") ?? total }

    /// This process's peak resident set in bytes (`VmHWM`), nil where unknown.
    public static var peakResident: Int? { status("VmHWM") }

    /// This process's resident set in bytes (`VmRSS`), nil where unknown.
    public static var resident: Int? { status("VmRSS") }

    private static func meminfo(_ key: String) -> Int? { field(key, in: "/proc/meminfo") }
    private static func status(_ key: String) -> Int? { field(key, in: "/proc/self/status") }

    /// `KEY:   N kB` of a /proc file, in bytes.
    private static func field(_ key: String, in path: String) -> Int? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(key + ":") { return value(of: line) }
        return nil
    }

    /// The bytes of a `/proc` line `KEY:<tabs and spaces>N kB` (a wide N follows the tab with no space).
    static func value(of line: Substring) -> Int? {
        let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard parts.count >= 2, let value = Int(parts[1]) else { return nil }
        return parts.count >= 3 && parts[2] == "kB" ? value * 1024 : value
    }

    /// `bytes` as "12.3 GB".
    public static func describe(_ bytes: Int) -> String { String(format: "%.1f GB", Double(bytes) / 1e9) }
}
