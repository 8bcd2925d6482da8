"""Load Fledge EAGLE-layout exports with SpecForge's own code and report.

Run with the SpecForge checkout on PYTHONPATH (this file imports, never copies,
SpecForge code):

    PYTHONPATH=/tmp/specforge python check_specforge.py EXPORT_DIR [EXPECTED_LAYERS]

EXPECTED_LAYERS: what SpecForge should resolve as capture layers, comma separated
output-of-layer indices (e.g. 3,15,25), or "default" for a config without ids.
Exits non-zero if any check fails.
"""

import json
import os
import sys
import tempfile
import types

# LlamaRMSNorm.forward is @torch.compile'd: on CPU that needs a C compiler;
# set TORCHDYNAMO_DISABLE=1 to run it eagerly instead.

import torch
from safetensors import safe_open
from safetensors.torch import save_file

# SpecForge's own modules.
import specforge.modeling.draft  # noqa: F401  (registers LlamaForCausalLMEagle3)
from specforge.algorithms.model_providers import resolve_eagle_capture_layers
from specforge.modeling.auto import AutoDraftModel
from specforge.modeling.draft.llama3_eagle import LlamaForCausalLMEagle3
from specforge.training.model_loading import (
    load_draft_config_source,
    warm_start_draft_model,
)

TARGET_LAYERS = 30  # SmolLM2-135M

failures = []


def check(ok, what):
    print(("  ok   " if ok else "  FAIL ") + what)
    if not ok:
        failures.append(what)


def main():
    export = os.path.abspath(sys.argv[1])
    expected = sys.argv[2] if len(sys.argv) > 2 else None
    print(f"== SpecForge <- {export}")
    raw = json.load(open(os.path.join(export, "config.json")))
    with safe_open(os.path.join(export, "model.safetensors"), "pt") as f:
        file_sd = {k: f.get_tensor(k) for k in f.keys()}

    # 1. SpecForge's config builder (the one its trainer uses for a draft dir).
    draft_config = load_draft_config_source(export)
    print(f"  config class: {type(draft_config).__module__}.{type(draft_config).__name__}")
    print(f"  architectures={draft_config.architectures} draft_vocab_size={draft_config.draft_vocab_size} "
          f"vocab_size={draft_config.vocab_size} hidden_size={draft_config.hidden_size}")
    print(f"  config.eagle_config = {getattr(draft_config, 'eagle_config', None)!r}")
    print(f"  config.eagle_aux_hidden_state_layer_ids (top level, unused by SpecForge) = "
          f"{getattr(draft_config, 'eagle_aux_hidden_state_layer_ids', None)!r}")
    check(AutoDraftModel._model_cls_from_config(draft_config) is LlamaForCausalLMEagle3,
          "architectures resolves to LlamaForCausalLMEagle3 in SpecForge's DRAFT_REGISTRY")

    # 2. Build the model the way build_eagle3_draft does, then SpecForge's
    #    warm-start loader (AutoDraftModel.from_pretrained + load_state_dict).
    model = AutoDraftModel.from_config(draft_config, attention_backend="sdpa",
                                       torch_dtype=torch.bfloat16)
    report = warm_start_draft_model(model, export, draft_config=draft_config,
                                    strategy="eagle3", allow_missing_embedding=True)
    print(f"  warm_start_draft_model: format={report.checkpoint_format} loaded={report.loaded_keys} "
          f"missing={list(report.missing_keys)} loaded_embedding={report.loaded_embedding}")

    # HF loader's own bookkeeping for the same folder.
    _, info = AutoDraftModel.from_pretrained(export, config=draft_config, output_loading_info=True)
    for k in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
        print(f"  from_pretrained {k}: {sorted(info.get(k) or [])}")
    check(sorted(info.get("missing_keys") or []) == ["embed_tokens.weight"],
          "from_pretrained: only embed_tokens.weight missing (taken from the target)")
    check(not info.get("unexpected_keys"), "from_pretrained: no unexpected keys")
    check(not info.get("mismatched_keys"), "from_pretrained: no mismatched shapes")

    # Direct strict accounting against a fresh module.
    fresh = LlamaForCausalLMEagle3(draft_config)
    res = fresh.load_state_dict(file_sd, strict=False)
    print(f"  load_state_dict(file): missing={sorted(res.missing_keys)} unexpected={sorted(res.unexpected_keys)}")
    check(sorted(res.missing_keys) == ["embed_tokens.weight"] and not res.unexpected_keys,
          "load_state_dict: missing == [embed_tokens.weight], unexpected == []")
    sd_no_embed = dict(file_sd)
    sd_no_embed["embed_tokens.weight"] = fresh.embed_tokens.weight.detach().clone()
    fresh.load_state_dict(sd_no_embed, strict=True)
    check(True, "load_state_dict(strict=True) with every file tensor + the embedding slot")

    # Tensors really landed (buffers included).
    msd = model.state_dict()
    for k, v in file_sd.items():
        if not torch.equal(msd[k].to(v.dtype), v):
            check(False, f"tensor {k} equals the file after warm start")
            break
    else:
        check(True, f"all {len(file_sd)} file tensors (incl. buffers d2t/t2d) equal after warm start")
    check(int(model.t2d.sum()) == draft_config.draft_vocab_size, "t2d marks draft_vocab_size tokens")
    mapped = torch.arange(draft_config.draft_vocab_size) + model.d2t
    check(bool(model.t2d[mapped].all()), "draft id + d2t[draft id] lands on a t2d-true target id")

    # 3. Embedding: not in the EAGLE layout; SpecForge copies it from the target
    #    with load_embedding(target_model_path, "model.embed_tokens.weight").
    with tempfile.TemporaryDirectory() as target:
        emb = torch.randn(draft_config.vocab_size, draft_config.hidden_size, dtype=torch.bfloat16)
        save_file({"model.embed_tokens.weight": emb}, os.path.join(target, "model.safetensors"))
        model.load_embedding(target)
        check(torch.equal(model.embed_tokens.weight, emb),
              "load_embedding(<synthetic HF target dir>) fills embed_tokens.weight")
    model.freeze_embedding()

    # 4. Forward on random inputs of the right shapes.
    model = model.float().eval()
    B, T, H = 2, 7, draft_config.hidden_size
    ids = torch.randint(0, draft_config.vocab_size, (B, T))
    aux = torch.randn(B, T, 3 * model.target_hidden_size)
    with torch.no_grad():
        out = model(hidden_states=aux, inputs_embeds=model.embed_input_ids(ids))
        logits = model.compute_logits(out)
        # The TTT step path the trainer uses: project -> backbone -> logits.
        mask = model.prepare_decoder_attention_mask(torch.ones(B, T, dtype=torch.bool), aux, B, T, 0)
        pos = torch.arange(T).unsqueeze(0)
        h = model.backbone(model.embed_input_ids(ids), model.project_hidden_states(aux), None, mask, pos)
        logits2 = model.compute_logits(h)
    print(f"  forward: hidden {tuple(out.shape)} logits {tuple(logits.shape)}; backbone logits {tuple(logits2.shape)}")
    check(tuple(logits.shape) == (B, T, draft_config.draft_vocab_size) and torch.isfinite(logits).all().item()
          and torch.isfinite(logits2).all().item(), "forward runs, finite draft-vocab logits")

    # 5. Which target layers SpecForge captures for this draft.
    run_cfg = types.SimpleNamespace(model=types.SimpleNamespace(aux_hidden_state_layer_ids=None))
    target_cfg = types.SimpleNamespace(num_hidden_layers=TARGET_LAYERS)
    layers = resolve_eagle_capture_layers(run_cfg, draft_config, target_cfg)
    n = TARGET_LAYERS
    fledge_default = [1, n // 2 - 1, n - 4]
    print(f"  SpecForge capture layers (output-of-layer, sglang set_eagle3_layers_to_capture): {layers}"
          f"  [source: {'eagle_config' if (getattr(draft_config, 'eagle_config', None) or {}).get('eagle_aux_hidden_state_layer_ids') else 'SpecForge default [1, n//2-1, n-4]'}]")
    if expected == "default":
        check(layers == fledge_default, f"default export -> SpecForge default {layers} == Fledge default {fledge_default}")
    elif expected:
        want = [int(x) for x in expected.split(",")]
        check(layers == want, f"custom export -> {layers} == Fledge's trained layers {want}")
        top = raw.get("eagle_aux_hidden_state_layer_ids")
        check(top == [x + 1 for x in want], f"top-level (input-of-layer) ids {top} == trained + 1")

    print("  RESULT:", "PASS" if not failures else f"FAIL ({len(failures)})")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
