"""Load Fledge speculators-layout exports with speculators' own code and report.

Run in a venv where speculators is pip-installed (this file imports, never
copies, speculators code):

    python check_speculators.py EXPORT_DIR [EXPECTED_IDS]

EXPECTED_IDS: the ids speculators should end up with, comma separated
input-of-layer indices (e.g. 4,16,26), or "default" for a config without ids.
Exits non-zero if any check fails.
"""

import json
import os
import sys
import tempfile
import traceback

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import LlamaConfig, PreTrainedModel

from speculators import SpeculatorModel, SpeculatorModelConfig
from speculators.losses import resolve_loss_config
from speculators.convert.eagle.eagle3_legacy_model import Eagle3Speculator
from speculators.models.eagle3 import Eagle3DraftModel, Eagle3SpeculatorConfig

TARGET_LAYERS = 30  # SmolLM2-135M

failures = []


def check(ok, what):
    print(("  ok   " if ok else "  FAIL ") + what)
    if not ok:
        failures.append(what)


def synthetic_verifier(root, cfg):
    """An HF-format stand-in for the GGUF target: a Llama config with the
    target's shape and random embed/lm_head/norm, the only tensors speculators'
    load_verifier_weights reads."""
    tl = cfg.transformer_layer_config
    LlamaConfig(vocab_size=tl.vocab_size, hidden_size=tl.hidden_size,
                intermediate_size=tl.intermediate_size, num_hidden_layers=TARGET_LAYERS,
                num_attention_heads=tl.num_attention_heads,
                num_key_value_heads=tl.num_key_value_heads).save_pretrained(root)
    save_file({
        "model.embed_tokens.weight": torch.randn(tl.vocab_size, tl.hidden_size, dtype=torch.bfloat16),
        "lm_head.weight": torch.randn(tl.vocab_size, tl.hidden_size, dtype=torch.bfloat16),
        "model.norm.weight": torch.ones(tl.hidden_size, dtype=torch.bfloat16),
    }, os.path.join(root, "model.safetensors"))
    return root


def main():
    export = os.path.abspath(sys.argv[1])
    expected = sys.argv[2] if len(sys.argv) > 2 else None
    print(f"== speculators <- {export}")
    raw = json.load(open(os.path.join(export, "config.json")))
    with safe_open(os.path.join(export, "model.safetensors"), "pt") as f:
        file_sd = {k: f.get_tensor(k) for k in f.keys()}

    # 1. Config through speculators' own registry/class.
    check("eagle_aux_hidden_state_layer_ids" in Eagle3SpeculatorConfig.model_fields,
          "Eagle3SpeculatorConfig declares eagle_aux_hidden_state_layer_ids (pydantic field)")
    generic = SpeculatorModelConfig.from_pretrained(export)
    check(type(generic) is Eagle3SpeculatorConfig,
          f"SpeculatorModelConfig.from_pretrained resolves speculators_model_type=eagle3 -> {type(generic).__name__}")
    cfg = Eagle3SpeculatorConfig.from_pretrained(export)
    verifier = cfg.speculators_config.verifier.name_or_path
    print(f"  config: draft_vocab_size={cfg.draft_vocab_size} target_hidden_size={cfg.target_hidden_size} "
          f"tl={type(cfg.transformer_layer_config).__name__} layers={cfg.transformer_layer_config.num_hidden_layers} "
          f"norm_output={cfg.norm_output} verifier.name_or_path={verifier!r}")
    print(f"  config.eagle_aux_hidden_state_layer_ids (as read from config.json) = {cfg.eagle_aux_hidden_state_layer_ids!r}")

    # 2. from_pretrained exactly as shipped.
    print("  Eagle3DraftModel.from_pretrained(export) as shipped:")
    try:
        Eagle3DraftModel.from_pretrained(export)
        shipped_ok = True
        print("    loaded")
    except Exception as exc:  # noqa: BLE001
        shipped_ok = False
        chain = " -> ".join(f"{fr.name}({os.path.basename(fr.filename)}:{fr.lineno})"
                            for fr in traceback.extract_tb(exc.__traceback__)
                            if "site-packages/speculators/" in fr.filename)
        print(f"    FAILED: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        print(f"    speculators call chain: {chain}")
    print(f"  RESULT(shipped from_pretrained): {'loads' if shipped_ok else 'does not load (verifier name_or_path is not a local HF dir or Hub repo)'}")

    # 2b. The same with verifier.name_or_path = null (speculators then skips
    #     load_verifier_weights and the default-layer resolution).
    cfg = Eagle3SpeculatorConfig.from_pretrained(export)
    cfg.speculators_config.verifier.name_or_path = None
    try:
        m0 = Eagle3DraftModel.from_pretrained(export, config=cfg)
        print(f"  with verifier.name_or_path=None: loads; eagle_aux_hidden_state_layer_ids="
              f"{m0.config.eagle_aux_hidden_state_layer_ids}")
        del m0
    except Exception as exc:  # noqa: BLE001
        chain = " -> ".join(f"{fr.name}({os.path.basename(fr.filename)}:{fr.lineno})"
                            for fr in traceback.extract_tb(exc.__traceback__)
                            if "site-packages/speculators/" in fr.filename)
        print(f"  with verifier.name_or_path=None: FAILED too: {type(exc).__name__}: "
              f"{str(exc).splitlines()[0][:120]}\n    speculators call chain: {chain}")

    # 3. from_pretrained with verifier.name_or_path pointing at an HF-format
    #    stand-in of the target (all else from the export, unchanged).
    with tempfile.TemporaryDirectory() as vdir:
        synthetic_verifier(vdir, cfg)
        cfg = Eagle3SpeculatorConfig.from_pretrained(export)
        cfg.speculators_config.verifier.name_or_path = vdir
        model = Eagle3DraftModel.from_pretrained(export, config=cfg)
        check(type(model) is Eagle3DraftModel, "Eagle3DraftModel.from_pretrained(export, config=<verifier -> HF dir>) loads")
        model_g = SpeculatorModel.from_pretrained(export, config=cfg)
        check(type(model_g) is Eagle3DraftModel, "SpeculatorModel.from_pretrained (registry dispatch) -> Eagle3DraftModel")

        # HF loader bookkeeping for the same call speculators makes inside.
        cfg2 = Eagle3SpeculatorConfig.from_pretrained(export)
        _, info = PreTrainedModel.from_pretrained.__func__(Eagle3DraftModel, export, config=cfg2,
                                                           output_loading_info=True)
        for k in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
            print(f"  HF from_pretrained {k}: {sorted(info.get(k) or [])}")
        ignorable = {"verifier_norm.weight", "verifier_lm_head.weight"}  # filled from the verifier
        check(set(info.get("missing_keys") or []) <= ignorable,
              f"missing keys only verifier-owned ones ({sorted(ignorable)})")
        check(not info.get("unexpected_keys"), "no unexpected keys")
        check(not info.get("mismatched_keys"), "no mismatched shapes")

        fresh = Eagle3DraftModel(Eagle3SpeculatorConfig.from_pretrained(export))
        res = fresh.load_state_dict(file_sd, strict=False)
        print(f"  load_state_dict(file): missing={sorted(res.missing_keys)} unexpected={sorted(res.unexpected_keys)}")
        check(set(res.missing_keys) <= ignorable and not res.unexpected_keys,
              "load_state_dict: missing only verifier_*; unexpected == []")

        msd = model.state_dict()
        bad = [k for k, v in file_sd.items() if not torch.equal(msd[k].to(v.dtype), v)]
        check(not bad, f"all {len(file_sd)} file tensors (embed_tokens, lm_head, d2t, t2d incl.) kept after "
                       f"load_verifier_weights{'' if not bad else ': differ ' + str(bad)}")
        check(bool(model.use_draft_vocab) and int(model.t2d.sum()) == cfg.draft_vocab_size,
              "draft vocab in use; t2d marks draft_vocab_size tokens")

        ids = model.config.eagle_aux_hidden_state_layer_ids
        print(f"  speculators' eagle_aux_hidden_state_layer_ids after from_pretrained (input-of-layer, vLLM): {ids}"
              f"  (model.target_layer_ids={model.target_layer_ids})")
        n = TARGET_LAYERS
        if expected == "default":
            fledge_default_out = [1, n // 2 - 1, n - 4]
            check(ids == [2, n // 2, n - 3] == [x + 1 for x in fledge_default_out],
                  f"default export -> speculators default {ids} == Fledge default {fledge_default_out} + 1")
        elif expected:
            want = [int(x) for x in expected.split(",")]
            check(ids == want, f"custom export -> {ids} == expected {want}")
            check(raw.get("eagle_aux_hidden_state_layer_ids") == want, "top-level field carried unchanged")

        # 4. Forward (training forward with TTT, batch 1 packed, with loss).
        model = model.float().eval()
        # flex-attention block masks are built in 128-token blocks: use a multiple of 128
        T, H = 128, cfg.transformer_layer_config.hidden_size
        num_aux = len(ids) if ids else 3
        torch.manual_seed(0)
        with torch.no_grad():
            tokens, loss, metrics = model(
                hidden_states=torch.randn(1, T, num_aux * H),
                input_ids=torch.randint(0, cfg.transformer_layer_config.vocab_size, (1, T)),
                document_ids=torch.zeros(1, T, dtype=torch.long),
                verifier_last_hidden_states=torch.randn(1, T, H),
                ttt_steps=3,
                # the fused (default) loss needs Triton/CUDA; eager is the CPU path
                loss_config=resolve_loss_config("kl_div", implementation="eager"),
            )
        print(f"  forward ({model._attn_impl}): {len(tokens)} TTT steps, draft tokens {tuple(tokens[0].shape)}, "
              f"loss={loss.item():.4f}")
        check(len(tokens) == 3 and torch.isfinite(loss).item(), "forward runs (3 TTT steps, finite loss)")

    # 5. The legacy Eagle3Speculator class named in "architectures" (used by
    #    speculators' converter validation; forward not implemented there).
    legacy = Eagle3Speculator(Eagle3SpeculatorConfig.from_pretrained(export))
    res = legacy.load_state_dict(file_sd, strict=False)
    print(f"  Eagle3Speculator.load_state_dict(file): missing={sorted(res.missing_keys)} "
          f"unexpected={sorted(res.unexpected_keys)}")
    check(not res.missing_keys and not res.unexpected_keys,
          "legacy Eagle3Speculator: strict key match")

    if not shipped_ok and os.environ.get("REQUIRE_SHIPPED_LOAD") == "1":
        failures.append("from_pretrained on the export as shipped")
    print("  RESULT:", "PASS" if not failures else f"FAIL ({len(failures)})",
          "| shipped from_pretrained:", "loads" if shipped_ok else "fails on verifier.name_or_path")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
