import Foundation
import FledgeLlama
import FledgeTemplate
import FledgeTensor

extension Regenerator {
    /// One conversation in a decoding slot.
    struct SlotState {
        /// Index in the run's conversation list.
        var index: Int
        var messages: [ChatMessage]
        /// The first message not regenerated yet.
        var next = 0
        /// The assistant message being generated.
        var turn = 0
        /// The tokens whose keys and values the slot's cache row holds.
        var cached: [Int32] = []
        var output: [Int32] = []
        /// Most tokens of the current answer.
        var budget = 0
        var sampler = Sampler(SamplingOptions())
    }

    /// Sees each finished conversation in input order: its index, the result, and the tokens
    /// generated so far.
    typealias Emit = (Int, Result<Conversation, Failure>, Int) throws -> Void

    /// The continuous-batching engine behind ``run(_:output:failures:progress:)``.
    struct Slots {
        let regenerator: Regenerator
        let conversations: [Conversation]
        let model: LlamaModel
        let capacity: Int
        let vocabulary: Int
        let stops: Set<Int32>
        var generatedTokens = 0
        /// Row `i` of the cache (and of `pending`) belongs to `slots[i]`.
        var slots: [SlotState?]
        var cache: KVCache
        var pending: Tensor
        let staging: KVCache
        var nextConversation = 0
        /// Finished conversations waiting for an earlier one, by index.
        var finished: [Int: Result<Conversation, Failure>] = [:]
        var written = 0

        init(regenerator: Regenerator, conversations: [Conversation]) {
            self.regenerator = regenerator
            self.conversations = conversations
            model = regenerator.target.model
            let positions = model.configuration.maxPositions
            capacity = min(regenerator.options.maxLength ?? min(positions, 2048), positions)
            vocabulary = model.configuration.vocabularySize
            stops = regenerator.target.stopTokens
            let rows = max(1, min(regenerator.options.batchSize, conversations.count))
            slots = Array(repeating: nil, count: rows)
            cache = model.makeCache(batch: rows, capacity: capacity)
            pending = Tensor(zeros: [rows, vocabulary])
            staging = model.makeCache(capacity: capacity)
        }

        /// Regenerates every conversation; `emit` sees each in input order with its index.
        mutating func run(emit: Emit) throws {
            for slot in slots.indices { try fill(slot, emit: emit) }
            let scratch = Tensor(zeros: [vocabulary])
            while slots.contains(where: { $0 != nil }) {
                // Every occupied slot has the logits of its next token in `pending`.
                var tokens = [Int32](repeating: 0, count: slots.count)
                var valid = [Int](repeating: 0, count: slots.count)
                for slot in slots.indices {
                    guard var state = slots[slot] else { continue }
                    let token = state.sampler.sample(
                        pending.pointer + slot * vocabulary, count: vocabulary, scratch: scratch.pointer)
                    state.output.append(token)
                    if stops.contains(token) || state.output.count >= state.budget {
                        generatedTokens += state.output.count
                        let answer = state.output.filter { !stops.contains($0) }
                        state.messages[state.turn].content = regenerator.target.tokenizer.decode(
                            answer, skipSpecialTokens: true)
                        state.next = state.turn + 1
                        slots[slot] = state
                        try advance(slot, emit: emit)
                        try fill(slot, emit: emit)
                    } else {
                        tokens[slot] = token
                        valid[slot] = 1
                        slots[slot] = state
                    }
                }
                if !valid.contains(1) { continue }
                // Slots with nothing to decode (just prefilled, or empty) take part with no
                // valid token: their cache rows do not grow and their logits are not read.
                let logits = try model.forward(
                    TokenBatch(tokens: tokens, batch: slots.count, length: 1, validLengths: valid), cache: cache,
                    options: ForwardOptions(logits: .last)
                ).logits!
                // (Copied out before any failure refills a slot: a prefill reuses the workspace.)
                var broken: [(slot: Int, token: Int)] = []
                for slot in slots.indices where valid[slot] == 1 {
                    let row = logits.pointer + slot * vocabulary
                    if let bad = Self.firstNonFinite(row, count: vocabulary) {
                        broken.append((slot, bad))
                        continue
                    }
                    (pending.pointer + slot * vocabulary).update(from: row, count: vocabulary)
                    slots[slot]!.cached.append(tokens[slot])
                }
                for (slot, token) in broken {
                    let reason = "the model produced a non-finite logit for token \(token)"
                    try finish(slot, .failure(failure(slots[slot]!, reason)), emit: emit)
                    try fill(slot, emit: emit)
                }
                shrinkIfIdle()
            }
        }

        static func firstNonFinite(_ row: UnsafePointer<Float>, count: Int) -> Int? {
            for index in 0..<count where !row[index].isFinite { return index }
            return nil
        }

        func failure(_ state: SlotState, _ reason: String) -> Failure {
            Failure(id: conversations[state.index].id, error: "turn \(state.turn): \(reason)")
        }

        /// Gives an empty slot the next conversation that has a turn to regenerate (a loop, not
        /// recursion: any number of conversations may finish or fail at once).
        mutating func fill(_ slot: Int, emit: Emit) throws {
            while slots[slot] == nil && nextConversation < conversations.count {
                let index = nextConversation
                nextConversation += 1
                slots[slot] = SlotState(index: index, messages: regenerator.prepared(conversations[index]))
                try advance(slot, emit: emit)
            }
        }

        /// Starts the slot's next assistant turn (prefilling its prompt), or finishes the
        /// conversation, leaving the slot empty.
        mutating func advance(_ slot: Int, emit: Emit) throws {
            var state = slots[slot]!
            guard let turn = state.messages[state.next...].firstIndex(where: { $0.role == "assistant" }) else {
                try finish(slot, .success(conversation(state)), emit: emit)
                return
            }
            state.turn = turn
            let prompt: [Int32]
            do {
                prompt = try regenerator.target.encodeChat(Array(state.messages[..<turn]), addGenerationPrompt: true)
            } catch {
                try finish(slot, .failure(failure(state, "\(error)")), emit: emit)
                return
            }
            guard prompt.count < capacity else {
                if state.next == 0 {
                    let reason =
                        "the \(prompt.count)-token prompt leaves no room under the \(capacity)-token limit"
                    try finish(slot, .failure(failure(state, reason)), emit: emit)
                } else {  // keep the turns regenerated so far
                    state.messages = Array(state.messages[..<state.next])
                    try finish(slot, .success(conversation(state)), emit: emit)
                }
                return
            }
            // Reuse the cached prefix this prompt shares with the previous turn (at least one
            // token is run, for its logits).
            var shared = 0
            let limit = min(state.cached.count, prompt.count - 1)
            while shared < limit && state.cached[shared] == prompt[shared] { shared += 1 }
            staging.reset()
            if shared > 0 {
                staging.copyRow(0, from: cache, source: slot)
                staging.trim(to: shared)
            }
            do {
                let logits = try model.forward(
                    TokenBatch(tokens: Array(prompt[shared...])), cache: staging, options: ForwardOptions(logits: .last)
                ).logits!
                try model.checkLogits(logits)
                (pending.pointer + slot * vocabulary).update(from: logits.pointer, count: vocabulary)
            } catch {
                try finish(slot, .failure(failure(state, "\(error)")), emit: emit)
                return
            }
            cache.copyRow(slot, from: staging)
            state.cached = prompt
            state.output = []
            state.budget = min(regenerator.options.maxTokens, capacity - prompt.count)
            var sampling = regenerator.options.sampling
            sampling.seed = Regenerator.seed(sampling.seed, id: conversations[state.index].id, turn: turn)
            state.sampler = Sampler(sampling)
            slots[slot] = state
        }

        func conversation(_ state: SlotState) -> Conversation {
            Conversation(id: conversations[state.index].id, messages: state.messages)
        }

        /// Records a finished conversation, empties its slot and emits every one now in order.
        mutating func finish(
            _ slot: Int, _ result: Result<Conversation, Failure>, emit: Emit
        ) throws {
            finished[slots[slot]!.index] = result
            slots[slot] = nil
            while let next = finished.removeValue(forKey: written) {
                try emit(written, next, generatedTokens)
                written += 1
            }
        }

        /// Once the input is used up and half the slots are empty, the others move to a
        /// smaller cache (row-exact kernels: a row's bits do not depend on the batch).
        mutating func shrinkIfIdle() {
            let occupied = slots.indices.filter { slots[$0] != nil }
            guard nextConversation == conversations.count, !occupied.isEmpty, occupied.count * 2 <= slots.count
            else { return }
            let smaller = model.makeCache(batch: occupied.count, capacity: capacity)
            let logits = Tensor(zeros: [occupied.count, vocabulary])
            for (row, slot) in occupied.enumerated() {
                smaller.copyRow(row, from: cache, source: slot)
                (logits.pointer + row * vocabulary).update(from: pending.pointer + slot * vocabulary, count: vocabulary)
            }
            slots = occupied.map { slots[$0] }
            cache = smaller
            pending = logits
        }
    }
}
