import Foundation
import FledgeDraft
import FledgeNN
import FledgeTensor
import FledgeWeights

/// Checkpoints in `<save>/checkpoints/step-NNNNNNN/`: `model.safetensors` (parameters in
/// export names, `d2t`, `t2d`), `optimizer.safetensors` (AdamW moments) and `state.json`.
/// Each is written into a temporary folder that is renamed into place, so a checkpoint
/// either exists whole or not at all; only the newest `keep` are kept.
public enum Checkpoint {
    public static func directory(_ save: URL) -> URL { save.appendingPathComponent("checkpoints") }

    static func name(step: Int) -> String { String(format: "step-%07d", step) }

    /// Writes a checkpoint and prunes older ones. A write that fails (a full disk) removes its
    /// temporary folder, leaving the earlier checkpoints as they were.
    public static func save(
        parameters: ParameterSet, d2t: [Int64], t2d: [Bool], state: TrainingState, to save: URL, keep: Int
    ) throws -> URL {
        try self.save(
            parameters: parameters, d2t: d2t, t2d: t2d, state: state, to: save, keep: keep, afterWriting: { _ in })
    }

    /// ``save(parameters:d2t:t2d:state:to:keep:)`` calling `afterWriting` after each file it
    /// writes into the temporary folder (tests inject a failure there).
    static func save(
        parameters: ParameterSet, d2t: [Int64], t2d: [Bool], state: TrainingState, to save: URL, keep: Int,
        afterWriting: (URL) throws -> Void
    ) throws -> URL {
        let root = directory(save)
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let final = root.appendingPathComponent(name(step: state.step))
        let temporary = root.appendingPathComponent(".tmp-" + name(step: state.step))
        try? FileManager.default.removeItem(at: temporary)
        try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
        do {
            var model: [SafetensorsWriter.Item] = parameters.entries.map {
                .init(name: $0.name, tensor: parameters.parameter($0.name))
            }
            model.append(.init(name: "d2t", int64: d2t))
            model.append(.init(name: "t2d", bools: t2d))
            let modelURL = temporary.appendingPathComponent("model.safetensors")
            try SafetensorsWriter().write(model, metadata: ["format": "fledge-checkpoint"], to: modelURL)
            try afterWriting(modelURL)
            let optimizerURL = temporary.appendingPathComponent("optimizer.safetensors")
            try SafetensorsWriter().write(
                [
                    .init(name: "exp_avg", tensor: parameters.firstMoments),
                    .init(name: "exp_avg_sq", tensor: parameters.secondMoments),
                ], to: optimizerURL)
            try afterWriting(optimizerURL)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let stateURL = temporary.appendingPathComponent("state.json")
            try encoder.encode(state).write(to: stateURL)
            try afterWriting(stateURL)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
        try? FileManager.default.removeItem(at: final)
        guard rename(temporary.path, final.path) == 0 else {
            let code = errno
            try? FileManager.default.removeItem(at: temporary)
            throw TrainingError("\(final.path): cannot move the checkpoint into place (errno \(code))")
        }
        for old in try list(save).dropLast(keep) { try? FileManager.default.removeItem(at: old.url) }
        return final
    }

    /// Complete checkpoints, oldest first.
    public static func list(_ save: URL) throws -> [(step: Int, url: URL)] {
        let root = directory(save)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root.path) else { return [] }
        return names.compactMap { name -> (Int, URL)? in
            guard name.hasPrefix("step-"), let step = Int(name.dropFirst(5)) else { return nil }
            let url = root.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.appendingPathComponent("state.json").path) else {
                return nil
            }
            return (step, url)
        }.sorted { $0.0 < $1.0 }
    }

    /// Restores parameters, moments and state from the checkpoint at `url`.
    public static func restore(_ url: URL, into parameters: ParameterSet) throws -> TrainingState {
        let stateURL = url.appendingPathComponent("state.json")
        guard let data = try? Data(contentsOf: stateURL),
            let state = try? JSONDecoder().decode(TrainingState.self, from: data)
        else {
            throw TrainingError("\(stateURL.path): not a Fledge checkpoint state")
        }
        guard state.format == "fledge-checkpoint", state.version == 1 else {
            throw TrainingError(
                "\(stateURL.path): checkpoint format \(state.format) v\(state.version) is not supported",
                hint: "start fresh with --no-resume-from-checkpoint")
        }
        let model = try SafetensorsFile(url: url.appendingPathComponent("model.safetensors"))
        for entry in parameters.entries {
            let tensor = try model.tensor(entry.name)
            guard tensor.shape == entry.shape else {
                throw TrainingError(
                    "\(url.path): \(entry.name) has shape \(tensor.shape), the run expects \(entry.shape)",
                    hint:
                        "the checkpoint belongs to another configuration; "
                        + "use another --save-path or --no-resume-from-checkpoint"
                )
            }
            if let index = tensor.buffer.firstIndex(where: { !$0.isFinite }) {
                throw TrainingError(
                    "\(url.path): tensor \(entry.name) holds a non-finite value (element \(index) is "
                        + "\(tensor.buffer[index]))",
                    hint: "resume from an earlier checkpoint or start fresh with --no-resume-from-checkpoint")
            }
            parameters.parameter(entry.name).copy(from: tensor)
        }
        let optimizer = try SafetensorsFile(url: url.appendingPathComponent("optimizer.safetensors"))
        parameters.firstMoments.copy(from: try optimizer.tensor("exp_avg"))
        parameters.secondMoments.copy(from: try optimizer.tensor("exp_avg_sq"))
        return state
    }
}
