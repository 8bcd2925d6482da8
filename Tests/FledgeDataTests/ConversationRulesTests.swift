import FledgeTemplate
import Foundation
import Testing

@testable import FledgeData

private func parse(_ json: String) throws -> ConversationRecord { try ConversationRecord.parse(Array(json.utf8)) }

private func code(of body: () throws -> Void) -> DataError.Code? {
    do {
        try body()
        return nil
    } catch {
        return (error as? DataError)?.code
    }
}

private func repair(_ turns: [(ConversationRole, String)]) -> Result<RepairedConversation, ConversationSkipReason> {
    RepairRules.apply(turns.map { (role: $0.0, content: $0.1) })
}

private func messages(_ pairs: [(String, String)]) -> [ChatMessage] {
    pairs.map { ChatMessage(role: $0.0, content: $0.1) }
}

@Suite struct ConversationRulesTests {
    // MARK: Records

    @Test func shareGPTAndOpenAIRecordsParseToTheSameTurns() throws {
        let shareGPT = try parse(
            #"{"id": "a", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}"#)
        let openAI = try parse(
            #"{"id": "a", "messages": [{"role": "human", "content": "hi"}, {"role": "gpt", "content": "yo"}]}"#)
        #expect(shareGPT == openAI)
        #expect(shareGPT.turns == [.init(role: "human", content: "hi"), .init(role: "gpt", content: "yo")])
        #expect(try parse(#"{"id": 7, "messages": []}"#).id == "7")
        #expect(try parse(#"{"prompt_id": "p", "messages": []}"#).id == "p")
        #expect(try parse(#"{"id": "", "messages": []}"#).id == nil)
        let parts = try parse(
            #"{"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, "#
                + #"{"type": "text", "text": "b"}]}, "#
                + #"{"role": "assistant", "content": null}]}"#
        )
        #expect(parts.turns.map(\.content) == ["ab", ""])
    }

    @Test func badRecordsThrowTheirCode() {
        #expect(code { _ = try parse(#"{"id": "a", "conversations": [}"#) } == .malformedRecord)
        #expect(code { _ = try parse("[1, 2]") } == .notAConversation)
        #expect(code { _ = try parse(#"{"id": "a"}"#) } == .notAConversation)
        #expect(code { _ = try parse(#"{"messages": "hi"}"#) } == .notAConversation)
        #expect(code { _ = try parse(#"{"messages": [{"role": "user"}]}"#) } == .notAConversation)
        #expect(code { _ = try parse(#"{"messages": [{"content": "x"}]}"#) } == .notAConversation)
        #expect(
            code { _ = try parse(#"{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}"#) }
                == .notAConversation)
        #expect(code { _ = try parse(#"{"messages": [{"role": "user", "content": 3}]}"#) } == .notAConversation)
        let latin1 = Array(#"{"messages": [{"role": "user", "content": "caf"#.utf8) + [0xE9] + Array(#""}]}"#.utf8)
        #expect(code { _ = try ConversationRecord.parse(latin1) } == .invalidUTF8)
    }

    @Test func utf8ValidationFindsTheFirstBadByte() {
        #expect(UTF8Validation.firstInvalidByte(Array("naïve 日本 😀".utf8)) == nil)
        #expect(UTF8Validation.firstInvalidByte([0x61, 0xFF]) == 1)
        #expect(UTF8Validation.firstInvalidByte([0x61, 0xC0, 0x80]) == 1)  // overlong
        #expect(UTF8Validation.firstInvalidByte([0xED, 0xA0, 0x80]) == 0)  // surrogate
        #expect(UTF8Validation.firstInvalidByte([0xE6, 0x97]) == 0)  // cut short
        #expect(UTF8Validation.firstInvalidByte([0xF4, 0x90, 0x80, 0x80]) == 0)  // > U+10FFFF
    }

    // MARK: Roles

    @Test func rolesAreNormalisedAndUnknownOnesAreNil() {
        for written in ["human", "user", "Human", " USER "] {
            #expect(RoleNormalisation.role(for: written) == .user, "\(written)")
        }
        for written in ["gpt", "chatgpt", "bing", "bard", "assistant", "GPT"] {
            #expect(RoleNormalisation.role(for: written) == .assistant, "\(written)")
        }
        #expect(RoleNormalisation.role(for: "system") == .system)
        for written in ["tool", "function", "observation", ""] {
            #expect(RoleNormalisation.role(for: written) == nil, "\(written)")
        }
    }

    @Test func chatMessagesNormaliseKnownRolesAndKeepOthers() throws {
        let record = try parse(
            #"{"conversations": [{"from": "system", "value": "s"}, {"from": "Human", "value": "q"},"#
                + #" {"from": "gpt", "value": "a"}, {"from": "tool", "value": "t"}]}"#)
        #expect(
            record.chatMessages == [
                ChatMessage(role: "system", content: "s"),
                ChatMessage(role: "user", content: "q"),
                ChatMessage(role: "assistant", content: "a"),
                ChatMessage(role: "tool", content: "t"),
            ])
    }

    // MARK: Repairs

    @Test func aCleanConversationIsUnchanged() throws {
        let result = try repair([(.system, "s"), (.user, "u"), (.assistant, "a"), (.user, "u2")]).get()
        #expect(result.messages == messages([("system", "s"), ("user", "u"), ("assistant", "a"), ("user", "u2")]))
        #expect(result.repairs.isEmpty)
    }

    @Test func leadingAssistantTurnsAreDropped() throws {
        let result = try repair([(.assistant, "hello"), (.assistant, "again"), (.user, "u"), (.assistant, "a")]).get()
        #expect(result.messages == messages([("user", "u"), ("assistant", "a")]))
        #expect(result.repairs == [.leadingAssistantDropped: 2])
        let withSystem = try repair([(.system, "s"), (.assistant, "x"), (.user, "u"), (.assistant, "a")]).get()
        #expect(withSystem.messages.map(\.role) == ["system", "user", "assistant"])
    }

    @Test func emptyTurnsAreDroppedAndTheirNeighboursMerged() throws {
        let result = try repair([
            (.user, "q1"), (.assistant, " \n\t"), (.user, "q2"), (.assistant, ""), (.assistant, "a"),
        ]).get()
        #expect(result.messages == messages([("user", "q1\n\nq2"), ("assistant", "a")]))
        #expect(result.repairs == [.emptyTurnDropped: 2, .sameRoleMerged: 1])
    }

    @Test func repeatedRolesAreMergedWithABlankLine() throws {
        let result = try repair([(.user, "a"), (.user, "b"), (.assistant, "c"), (.assistant, "d"), (.assistant, "e")])
            .get()
        #expect(result.messages == messages([("user", "a\n\nb"), ("assistant", "c\n\nd\n\ne")]))
        #expect(result.repairs == [.sameRoleMerged: 3])
    }

    @Test func systemIsKeptOnlyFirst() throws {
        let result = try repair([(.user, "u"), (.system, "late"), (.assistant, "a"), (.system, "later")]).get()
        #expect(result.messages == messages([("user", "u"), ("assistant", "a")]))
        #expect(result.repairs == [.laterSystemDropped: 2])
        let twoLeading = try repair([(.system, "s1"), (.system, "s2"), (.user, "u"), (.assistant, "a")]).get()
        #expect(twoLeading.messages.first == ChatMessage(role: "system", content: "s1"))
        #expect(twoLeading.messages.count == 3)
    }

    @Test func contentsAreNeverTrimmed() throws {
        let result = try repair([(.user, "  spaced \n"), (.assistant, "\nanswer  ")]).get()
        #expect(result.messages.map(\.content) == ["  spaced \n", "\nanswer  "])
    }

    @Test func skipReasons() {
        #expect(repair([]) == .failure(.emptyConversation))
        #expect(repair([(.user, " "), (.assistant, "")]) == .failure(.emptyConversation))
        #expect(repair([(.assistant, "only"), (.assistant, "assistant")]) == .failure(.noUserAssistantPair))
        #expect(repair([(.user, "only user")]) == .failure(.noUserAssistantPair))
        #expect(repair([(.system, "s"), (.user, "u")]) == .failure(.noUserAssistantPair))
    }

    // MARK: Ids and split

    @Test func idsAreTheRecordsOwnThenSuffixedThenHashed() {
        var identity = ConversationIdentity()
        let a = messages([("user", "a"), ("assistant", "b")])
        let b = messages([("user", "c"), ("assistant", "d")])
        let c = messages([("user", "e"), ("assistant", "f")])
        #expect(identity.admit(a, recordID: "x")?.id == "x")
        #expect(identity.admit(a, recordID: "y") == nil, "same messages are a duplicate whatever the id")
        let hashB = ConversationIdentity.hexID(ConversationIdentity.digest(b))
        let renamed = identity.admit(b, recordID: "x")
        #expect(renamed?.id == "x-" + hashB)
        #expect(renamed?.renamed == true)
        let hashed = identity.admit(c, recordID: nil)
        #expect(hashed?.id == ConversationIdentity.hexID(ConversationIdentity.digest(c)))
        #expect(hashed?.id.count == 16)
    }

    @Test func theDigestSeparatesRolesAndContents() {
        let one = ConversationIdentity.digest(messages([("user", "ab"), ("assistant", "c")]))
        let two = ConversationIdentity.digest(messages([("user", "a"), ("assistant", "bc")]))
        let three = ConversationIdentity.digest(messages([("assistant", "ab"), ("user", "c")]))
        #expect(one != two)
        #expect(one != three)
    }

    @Test func theSplitDependsOnlyOnIdSeedAndFraction() {
        let ids = (0..<4000).map { "conversation-\($0)" }
        let eval = ids.filter { DatasetSplit.isEval(id: $0, seed: 1, evalFraction: 0.1) }
        #expect(abs(eval.count - 400) < 60, "eval share \(eval.count) of 4000 at 0.1")
        #expect(eval == ids.filter { DatasetSplit.isEval(id: $0, seed: 1, evalFraction: 0.1) })
        let otherSeed = ids.filter { DatasetSplit.isEval(id: $0, seed: 2, evalFraction: 0.1) }
        #expect(eval != otherSeed)
        let larger = Set(ids.filter { DatasetSplit.isEval(id: $0, seed: 1, evalFraction: 0.2) })
        #expect(Set(eval).isSubset(of: larger), "a larger fraction only adds to eval")
        #expect(!ids.contains { DatasetSplit.isEval(id: $0, seed: 1, evalFraction: 0) })
    }
}
