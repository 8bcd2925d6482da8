#!/usr/bin/env python3
"""Writes Tests/FledgeDataTests/Fixtures/loss_masks.json: token ids and render-boundary loss
masks computed independently in Python (docs/design.md §6.3, §5.8; speculators'
`_render_boundary_rows`), for the SmolLM2, Llama-3.1, Qwen2.5 and MiniCPM (2B, `<用户>`/`<AI>`) chat templates on multi-turn
conversations with and without system prompts.

Rendering: transformers' `apply_chat_template` (Jinja2); tokenisation: the SmolLM2 tokenizer
that transformers builds from the GGUF (a `tokenizers` fast tokenizer), with SmolLM2's own
pre-tokenizer (Digits + ByteLevel) restored. The Llama and Qwen
templates are rendered with the same SmolLM2 tokenizer (their own tokenizers are not available
offline); the mask algorithm does not depend on the vocabulary.

    /tmp/fledge-ref/bin/python Scripts/reference/make_loss_mask_fixtures.py
(transformers 5.23.0, tokenizers 0.23.3, Jinja2 3.1.6, gguf 0.19.0)
"""
import json
import os
import subprocess

from tokenizers import pre_tokenizers
from transformers import AutoTokenizer

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "FledgeDataTests", "Fixtures", "loss_masks.json")
TEMPLATES = os.path.join(ROOT, "Tests", "FledgeTemplateTests", "Fixtures", "templates")

gguf_path = subprocess.run([os.path.join(ROOT, "Scripts", "fetch-assets.sh"), "model"], check=True,
                           capture_output=True, text=True).stdout.strip().splitlines()[-1]
directory, file = os.path.split(gguf_path)
tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=file)
# transformers builds a plain GPT-2 split from the GGUF; SmolLM2's own tokenizer.json (and
# llama.cpp's `pre = smollm`) isolate digits first. Restore that.
tokenizer.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
    pre_tokenizers.Digits(individual_digits=True),
    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
])
# Llama-3's and MiniCPM's turn markers become special tokens (ids 49152…, in this order), as in
# their own tokenizers, so a turn boundary never merges into a neighbouring piece. The Swift test
# appends the same strings to the GGUF vocabulary as control tokens.
EXTRA_SPECIAL = ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<用户>", "<AI>"]
tokenizer.add_special_tokens({"additional_special_tokens": EXTRA_SPECIAL})
assert tokenizer.convert_tokens_to_ids(EXTRA_SPECIAL) == list(range(49152, 49152 + len(EXTRA_SPECIAL)))
BOS, EOS = "<|im_start|>", "<|im_end|>"  # what the Swift side passes: the GGUF's bos/eos token strings

templates = {name: open(os.path.join(TEMPLATES, f"{name}.jinja")).read()
             for name in ("smollm2-135m-instruct", "llama-3.1-8b-instruct", "qwen2.5-instruct", "minicpm-2b-sft")}

conversations = [
    [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello! How can I help?"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
    [{"role": "user", "content": "Name a fruit."}, {"role": "assistant", "content": "Apple."},
     {"role": "user", "content": "Another one, please."}, {"role": "assistant", "content": "Banana 🍌 — yellow.\nSweet."},
     {"role": "user", "content": "And a vegetable?"}, {"role": "assistant", "content": "Carrot."}],
    [{"role": "user", "content": "Write code"}, {"role": "assistant", "content": "```python\nprint('hi')\n```"},
     {"role": "user", "content": "Thanks"}],
    [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "Good morning"},
     {"role": "assistant", "content": "  Bonjour  "}, {"role": "user", "content": "Good night"},
     {"role": "assistant", "content": "Bonne nuit !"}],
]


def render(template, messages, generation):
    return tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                         add_generation_prompt=generation, bos_token=BOS, eos_token=EOS)


def encode(text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


cases = []
for name, template in templates.items():
    for index, messages in enumerate(conversations):
        ids = encode(render(template, messages, False))
        mask = [0] * len(ids)
        for turn, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            before = encode(render(template, messages[:turn], True))
            through = encode(render(template, messages[:turn + 1], False))
            assert ids[:len(through)] == through, (name, index, turn)
            start = 0
            while start < min(len(before), len(through)) and before[start] == through[start]:
                start += 1
            for position in range(start, len(through)):
                mask[position] = 1
        cases.append({"template": name, "conversation": index, "messages": messages, "ids": ids, "mask": mask})
with open(OUT, "w") as handle:
    json.dump({"bos_token": BOS, "eos_token": EOS, "extra_special_tokens": EXTRA_SPECIAL, "cases": cases}, handle, ensure_ascii=False)
print("wrote", len(cases), "cases to", OUT)
