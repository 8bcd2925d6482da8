import Foundation

/// Content fingerprints that tie caches to the exact model and data they were made from
/// (64-bit FNV-1a over every byte, with the byte count).
public enum Fingerprint {
    /// The fingerprint of a file, or of every regular file under a folder (sorted by path).
    public static func of(_ url: URL) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw DataError(.invalidCache, "\(url.path): no such file or folder")
        }
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        var total = 0
        let files: [URL]
        if isDirectory.boolValue {
            let enumerator = FileManager.default.enumerator(at: url, includingPropertiesForKeys: [.isRegularFileKey])
            files = (enumerator?.allObjects as? [URL] ?? []).filter {
                (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true
            }
            .sorted { $0.path < $1.path }
        } else {
            files = [url]
        }
        for file in files {
            let data = try Data(contentsOf: file, options: .alwaysMapped)
            total += data.count
            hash = data.withUnsafeBytes { raw in update(hash, raw) }
        }
        return String(format: "fnv1a64:%016llx:%d", hash, total)
    }

    /// The fingerprint of some bytes.
    public static func of(_ data: Data) -> String {
        let hash = data.withUnsafeBytes { update(0xCBF2_9CE4_8422_2325, $0) }
        return String(format: "fnv1a64:%016llx:%d", hash, data.count)
    }

    static func update(_ start: UInt64, _ raw: UnsafeRawBufferPointer) -> UInt64 {
        var hash = start
        for byte in raw {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return hash
    }
}
