#!/usr/bin/env python3
"""Writes the fixtures of Tests/FledgeTokenizerTests/Fixtures (the reference is the Python
`tokenizers` library; everything runs offline):

- split-behaviours.json: the pieces of `Split` for every behaviour, inverted or not.
- texts.json: tricky strings and ShareGPT snippets encoded by every small tokenizer.
- tokenizers/<name>.tokenizer.json + <name>.expected.json: small BPE tokenizers trained with
  `tokenizers` on the first ShareGPT conversations, one per pre-tokenizer family
  (GPT-2 byte level, GPT-2 with add_prefix_space and lstrip/rstrip/single_word/normalized added
  tokens, Llama-3 split regex + ignore_merges, Qwen2 split regex + NFC, SmolLM2 Digits +
  ByteLevel, Llama-2 SentencePiece-style BPE with byte fallback (Prepend/Replace normalizer) and
  Mistral-style Metaspace). Each expected file holds tricky strings and ShareGPT snippets with
  their ids (with and without special tokens) and decodes (with and without skipping special
  tokens).
- gguf-spm.vocab.json: the Llama-2-style tokenizer above as a GGUF stores it (tokens, scores,
  token types), with ids from `tokenizers` on the equivalent tokenizer.json (merges derived
  from the scores with transformers' `generate_merges`, as transformers does for GGUF files).
- smollm2-sharegpt.json: the REAL SmolLM2-135M-Instruct tokenizer (from the GGUF fetched by
  `Scripts/fetch-assets.sh model`, converted by transformers' GGUF loader): for every complete
  ShareGPT record (turn values joined with "\\n\\n"), the number of ids and the first 16 hex
  digits of the SHA-256 of the ids as little-endian int32. Two pre-tokenizers:
  "smollm" = Digits(individual) + ByteLevel (the model's own tokenizer.json, and llama.cpp's
  LLAMA_VOCAB_PRE_TYPE_SMOLLM), "gpt2" = ByteLevel only (what transformers 5.23 builds from the
  GGUF, since it has no rule for `tokenizer.ggml.pre = smollm`).

    Scripts/fetch-assets.sh model sharegpt
    python3 Scripts/reference/make_tokenizer_fixtures.py
    (tokenizers 0.23.3, transformers 5.23.0, gguf 0.19.0; no seed needed: BPE training is deterministic,
    a second run rewrites identical files)
"""
import hashlib
import json
import os
import struct
import sys
import tempfile

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "FledgeTokenizerTests", "Fixtures")
ASSETS = os.environ.get("FLEDGE_ASSETS", os.path.join(ROOT, ".cache", "assets"))
SHAREGPT = os.path.join(ASSETS, "ShareGPT_V3_unfiltered_cleaned_split.json")
GGUF = os.path.join(ASSETS, "SmolLM2-135M-Instruct.Q4_1.gguf")

GPT2_SPLIT = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

TRICKY = [
    "Hello world",
    "",
    " ",
    "   leading spaces",
    "trailing spaces   ",
    "multiple   spaces  between words",
    "tabs\tand\nnewlines\n\n\nend",
    "windows\r\nline\r\n\r\nends \r\n",
    "I'm can't won't they're we've I'd you'll",
    "I'M CAN'T THEY'RE WE'VE YOU'LL 'S",
    "numbers 1234567 3.14159 1,000,000 2024-01-01 -42 +7",
    "unicode café naïve résumé Ω ß Straße",
    "combining e\u0301 a\u0308 o\u0302\u0323",
    "emoji 😀👍🏽 family 👨\u200d👩\u200d👧 flags 🇫🇷",
    "CJK 你好，世界！日本語のテキスト 한국어 텍스트",
    "arabic مرحبا بالعالم hebrew שלום",
    "hindi नमस्ते दुनिया thai สวัสดี",
    "math ∑∫√∞ ≠ ≤ ≥ ± × ÷",
    "code: def f(x):\n    return x**2  # comment\n\n\tif a != b: pass\n",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "special<|endoftext|>inline<|endoftext|><|endoftext|>",
    "<|im_start|><|im_end|>",
    " <|im_start|> spaced <|im_end|> ",
    "  \n  \n",
    "a\u00a0b\u2003c\u3000d\u202fe",
    "zero\u200bwidth\u200cjoiner\ufeffbom",
    "superscripts ²³ fractions ½ ¾ roman Ⅻ circled ① arabic-indic ٣٤٥",
    "mixed123abc456def7890",
    "Ünïcödé ÀÉÎÕÜ ÿ",
    "'s 's's ''' ' s",
    "don't\n'll\n're",
    "URL https://example.com/path?q=1&r=2#frag",
    'json {"key": [1, 2, 3], "nested": {"a": null}}',
    "ﬁ ligature ㎏ fullwidth ＡＢＣ１２３",
    "\u0000 control \u0007 chars \u001b[0m",
    "very long word " + "abcdefghij" * 30,
    "repeated !!!!!!!???... ---- ____ ====",
    "tab\t\tdouble\t",
    "ends with newline\n",
    "    four spaces then text",
    "\n\nleading newlines",
    "x" * 5 + " " * 7 + "y",
    "The <mask> is here and <mask>there",
    "single word <word> and x<word>y and <word>",
    "normalized <Norm> token and <norm>",
    "ǅ ǈ Titlecase ſ long-s ＫＥＬＶＩＮ K",
]


def sharegpt_records(limit=None):
    """Complete records of the truncated ShareGPT array, parsed one by one."""
    with open(SHAREGPT, encoding="utf-8") as f:
        text = f.read()
    decoder = json.JSONDecoder()
    position = text.index("[") + 1
    count = 0
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text) or text[position] == "]":
            return
        try:
            record, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            return  # the truncated tail
        yield record
        count += 1
        if limit is not None and count >= limit:
            return


def conversation_text(record):
    return "\n\n".join(turn.get("value", "") for turn in record.get("conversations", []))


def has_surrogates(text):
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def training_corpus():
    texts = []
    for record in sharegpt_records(limit=400):
        text = conversation_text(record)
        if not has_surrogates(text):
            texts.append(text)
    return texts + TRICKY


def snippets():
    out = []
    for record in sharegpt_records(limit=30):
        text = conversation_text(record)
        if not has_surrogates(text) and text:
            out.append(text[:1000])
    return out


def byte_level_tokenizer(pre_tokenizer, normalizer=None, ignore_merges=False, vocab_size=1200, specials=()):
    tokenizer = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    if normalizer is not None:
        tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(specials),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(training_corpus(), trainer)
    return tokenizer


def spm_tokenizer(metaspace):
    """Llama-2 (Prepend/Replace normalizer) or Mistral (Metaspace) style BPE with byte fallback."""
    trainer_tok = Tokenizer(models.BPE(unk_token="<unk>"))
    trainer_tok.normalizer = normalizers.Replace(" ", "▁")
    trainer_tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = trainers.BpeTrainer(vocab_size=900, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False)
    # Only scalars below U+0250 are learnt (no limit_alphabet: its ties break in hash order), so
    # CJK, emoji and the rest go through byte fallback.
    latin = ["".join(c for c in text if ord(c) < 0x250) for text in training_corpus()]
    trainer_tok.train_from_iterator(latin, trainer)
    trained = json.loads(trainer_tok.to_str())
    old_vocab = sorted(trained["model"]["vocab"].items(), key=lambda kv: kv[1])
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for token, _ in old_vocab:
        if token not in vocab:
            vocab[token] = len(vocab)
    merges = trained["model"]["merges"]
    model = models.BPE(vocab=vocab, merges=[tuple(m) for m in merges], unk_token="<unk>", fuse_unk=True,
                       byte_fallback=True)
    tokenizer = Tokenizer(model)
    if metaspace:
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
        tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first", split=False)
        tokenizer.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace(replacement="▁",
                                               prepend_scheme="first", split=False)])
    else:
        tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tokenizer.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                               decoders.Strip(" ", 1, 0)])
    tokenizer.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in ["<unk>", "<s>", "</s>"]])
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A </s> <s> $B",
                                                             special_tokens=[("<s>", 1), ("</s>", 2)])
    return tokenizer


def chatml_specials(tokenizer):
    tokenizer.add_special_tokens([AddedToken(t, normalized=False, special=True)
                                  for t in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]])


def build_all():
    out = {}
    gpt2 = byte_level_tokenizer(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
                                specials=["<|endoftext|>"])
    chatml_specials(gpt2)
    out["gpt2"] = gpt2

    roberta = byte_level_tokenizer(pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True),
                                   specials=["<s>", "</s>"])
    roberta.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False, special=True)])
    roberta.add_tokens([AddedToken("<word>", single_word=True, normalized=False),
                        AddedToken("<Norm>", normalized=True, rstrip=True)])
    roberta.normalizer = normalizers.Lowercase()
    roberta.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
                                                           special_tokens=[("<s>", roberta.token_to_id("<s>")),
                                                                           ("</s>", roberta.token_to_id("</s>"))])
    out["gpt2-prefix-space"] = roberta

    llama3 = byte_level_tokenizer(pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)]),
        ignore_merges=True, specials=["<|begin_of_text|>", "<|end_of_text|>"])
    chatml_specials(llama3)
    llama3.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                      special_tokens=[("<|begin_of_text|>", llama3.token_to_id("<|begin_of_text|>"))])])
    out["llama3"] = llama3

    qwen2 = byte_level_tokenizer(pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)]),
        normalizer=normalizers.NFC(), specials=["<|endoftext|>"])
    chatml_specials(qwen2)
    out["qwen2"] = qwen2

    smollm = byte_level_tokenizer(pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)]),
        specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    out["smollm"] = smollm

    out["llama2-spm"] = spm_tokenizer(metaspace=False)
    out["mistral-spm"] = spm_tokenizer(metaspace=True)
    return out


def cases(tokenizer, texts):
    """One entry per text of texts.json; a decode is null when it equals the text."""
    def unless_text(decoded, text):
        return None if decoded == text else decoded

    result = []
    for text in texts:
        plain = tokenizer.encode(text, add_special_tokens=False).ids
        special = tokenizer.encode(text, add_special_tokens=True).ids
        result.append({
            "ids": plain,
            "ids_with_special_tokens": special,
            "decoded": unless_text(tokenizer.decode(plain, skip_special_tokens=False), text),
            "decoded_with_special_tokens": unless_text(tokenizer.decode(special, skip_special_tokens=False), text),
            "decoded_skipping_special_tokens": unless_text(tokenizer.decode(special, skip_special_tokens=True), text),
        })
    return result


def write_json(path, value, indent=None):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=indent, separators=None if indent else (",", ":"))
        f.write("\n")
    print(f"{os.path.relpath(path, ROOT)}: {os.path.getsize(path)} bytes")


def write_split_behaviours():
    """Every Split behaviour, with and without invert, on a literal and a regex pattern."""
    rows = []
    for pattern, kind in [("-", "String"), (r"\s+|\d", "Regex")]:
        for text in ["a-b--c", "-a-", "x 1 22  y-", ""]:
            for behavior in ["removed", "isolated", "merged_with_previous", "merged_with_next", "contiguous"]:
                for invert in [False, True]:
                    split = pre_tokenizers.Split(pattern if kind == "String" else Regex(pattern), behavior, invert=invert)
                    rows.append({"pattern": {kind: pattern}, "behavior": "".join(p.title() for p in behavior.split("_")),
                                 "invert": invert, "text": text,
                                 "pieces": [piece for piece, _ in split.pre_tokenize_str(text)]})
    write_json(os.path.join(OUT, "split-behaviours.json"), rows, indent=1)


def write_small_fixtures():
    write_split_behaviours()
    folder = os.path.join(OUT, "tokenizers")
    os.makedirs(folder, exist_ok=True)
    texts = TRICKY + snippets()
    write_json(os.path.join(OUT, "texts.json"), texts, indent=1)
    tokenizers = build_all()
    for name, tokenizer in tokenizers.items():
        tokenizer.save(os.path.join(folder, f"{name}.tokenizer.json"))
        print(f"{name}: vocab {tokenizer.get_vocab_size()}")
        write_json(os.path.join(folder, f"{name}.expected.json"), {"tokenizer": name, "cases": cases(tokenizer, texts)})
    write_gguf_spm(tokenizers["llama2-spm"], texts)


def write_gguf_spm(llama2, texts):
    """A GGUF-style SentencePiece vocabulary and ids from its equivalent tokenizer.json."""
    from transformers.tokenization_utils_base import generate_merges
    source = json.loads(llama2.to_str())
    vocab = source["model"]["vocab"]
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    types = []
    for index, token in enumerate(tokens):
        if token == "<unk>":
            types.append(2)
        elif token in ("<s>", "</s>"):
            types.append(3)
        elif token.startswith("<0x") and len(token) == 6:
            types.append(6)
        else:
            types.append(1)
    scores = [0.0 if types[i] != 1 else -float(i) for i in range(len(tokens))]
    normal = {t: s for t, s, ty in zip(tokens, scores, types) if ty == 1}
    merges = generate_merges(vocab, normal)
    source["model"]["merges"] = [list(m) for m in merges]
    equivalent = Tokenizer.from_str(json.dumps(source))
    write_json(os.path.join(OUT, "gguf-spm.vocab.json"), {
        "model": "llama", "pre": "default", "tokens": tokens, "scores": scores, "token_types": types,
        "bos_token_id": 1, "eos_token_id": 2, "unknown_token_id": 0, "add_bos": True, "add_eos": False,
        "cases": cases(equivalent, texts),
    })


def smollm2_reference():
    """The real SmolLM2 tokenizer as transformers builds it from the GGUF, and the model's own pre-tokenizer."""
    from transformers import AutoTokenizer
    with tempfile.TemporaryDirectory() as folder:
        os.symlink(GGUF, os.path.join(folder, os.path.basename(GGUF)))
        converted = AutoTokenizer.from_pretrained(folder, gguf_file=os.path.basename(GGUF)).backend_tokenizer
    gpt2 = Tokenizer.from_str(converted.to_str())
    source = json.loads(converted.to_str())
    source["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}
    smollm = Tokenizer.from_str(json.dumps(source))
    return smollm, gpt2


def digest(ids):
    return hashlib.sha256(struct.pack(f"<{len(ids)}i", *ids)).hexdigest()[:16]


def write_smollm2_fixture():
    smollm, gpt2 = smollm2_reference()
    texts, records, skipped = [], [], []
    for index, record in enumerate(sharegpt_records()):
        text = conversation_text(record)
        if has_surrogates(text):
            skipped.append(index)
            continue
        texts.append(text)
        records.append((index, record.get("id", "")))
    smollm_ids = smollm.encode_batch_fast(texts, add_special_tokens=False)
    gpt2_limit = 2000
    gpt2_ids = gpt2.encode_batch_fast(texts[:gpt2_limit], add_special_tokens=False)
    rows = []
    total = 0
    for n, ((index, record_id), encoding) in enumerate(zip(records, smollm_ids)):
        ids = encoding.ids
        total += len(ids)
        row = [index, len(ids), digest(ids)]
        if n < gpt2_limit:
            row += [len(gpt2_ids[n].ids), digest(gpt2_ids[n].ids)]
        rows.append(row)
    sample = texts[0]
    write_json(os.path.join(OUT, "smollm2-sharegpt.json"), {
        "asset": os.path.basename(SHAREGPT),
        "gguf": os.path.basename(GGUF),
        "join": "\n\n",
        "records": len(records) + len(skipped),
        "skipped_with_lone_surrogates": skipped,
        "total_ids": total,
        "row": ["record index", "smollm id count", "smollm sha256[:16]", "gpt2 id count", "gpt2 sha256[:16]"],
        "sample": {"text": sample[:400], "smollm_ids": smollm.encode(sample[:400]).ids,
                   "gpt2_ids": gpt2.encode(sample[:400]).ids},
        "rows": rows,
    })


if __name__ == "__main__":
    write_small_fixtures()
    if "--small" in sys.argv:
        sys.exit(0)
    if os.path.exists(GGUF) and os.path.exists(SHAREGPT):
        write_smollm2_fixture()
    else:
        print("assets missing: run Scripts/fetch-assets.sh model sharegpt", file=sys.stderr)
        sys.exit(1)
