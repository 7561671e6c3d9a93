"""Hugging Face folders where a studio checkpoint goes (issue 19): the generate job and
CLI, the ``hf/`` chat provider, and the refusals of folders that must not be opened. Tiny
random models built from configs (``studio.testing.tiny_hf_model``): no download."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import studio_trainer.hooks as trainer_hooks
from studio.api import JobError, RunStatus, Span, TokenRecord
from studio.testing import run_cli, tiny_hf_model

FAMILIES = ("gpt2", "llama", "qwen2")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    return {family: tiny_hf_model(root / family, family) for family in FAMILIES}


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(studio_home, capsys, monkeypatch):
    """``tensor-studio ARGS`` in this process (transformers imported once for the module's
    tests, not per command): exit code, stdout and stderr."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def run(*args, check: bool = True) -> Ran:
        capsys.readouterr()
        code = run_cli(args)
        out, err = capsys.readouterr()
        if check:
            assert code == 0, err
        return Ran(code, out, err)

    return run


@pytest.mark.parametrize("family", FAMILIES)
def test_greedy_generation_is_transformers_own_and_the_job_records_it(family, models, make_studio, run_job):
    from transformers import AutoModelForCausalLM

    from studio_trainer.hf.load import load_hf
    from studio_trainer.train.sampling import sample_with_record

    folder = models[family]
    model, tokenizer, config = load_hf(folder, "cpu", "float32")
    assert config["family"] == family and model.config.n_kv_head == (4 if family == "gpt2" else 2)
    sample = sample_with_record(model, tokenizer, "To be, or", 16, 0.0, None)
    reference = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    ids = torch.tensor([tokenizer.encode("To be, or")])
    expected = reference.generate(ids, max_new_tokens=16, do_sample=False, eos_token_id=None, pad_token_id=0)
    assert sample.steps.ids == expected[0, ids.size(1) :].tolist()
    # the recorded log-probabilities are the model's own (one forward pass over the whole text)
    with torch.no_grad():
        logits = reference(expected).logits.float().log_softmax(-1)[0]
    start = ids.size(1)
    own = [float(logits[start - 1 + i, t]) for i, t in enumerate(sample.steps.ids)]
    assert sample.steps.logprobs == pytest.approx(own, abs=1e-4)

    if family != "llama":
        return  # the job (a worker process per run) once: loading is the same for every family
    studio = make_studio(("trainer", trainer_hooks))
    asked = {"checkpoint": str(folder), "prompt": "To be", "max_new_tokens": 8, "seed": 3, "dtype": "float32"}
    job = run_job(studio, "trainer.generate", asked)
    assert job.status == RunStatus.SUCCEEDED, job.error
    again = run_job(studio, "trainer.generate", asked)
    assert again.result["text"] == job.result["text"]  # a seed makes it repeatable
    record = TokenRecord.load(Path(job.result["token_record"]))
    assert record.model == f"hf/{folder}" and record.context == 128 and len(record) == 8
    (span,) = [e for e in job.run.events() if isinstance(e, Span)]
    assert span.outputs["text"] == job.result["text"]
    log = (job.run.dir / "log.txt").read_text() if (job.run.dir / "log.txt").exists() else ""
    assert not log or f"{family} in float32" in log


def test_a_chat_model_stops_at_its_end_of_turn(models):
    from studio_trainer.hf.load import load_hf
    from studio_trainer.train.sampling import sample_with_record

    model, tokenizer, _ = load_hf(models["llama"], "cpu", "float32")
    assert tokenizer.stop_ids == {tokenizer.hf.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|im_end|>")}
    free = sample_with_record(model, tokenizer, "To be, or", 12, 0.0, None)
    ids = free.steps.ids
    first_new = next(i for i in range(1, len(ids)) if ids[i] not in ids[:i])  # a token not sampled before
    tokenizer.stop_ids = frozenset({ids[first_new]})  # as if it were the model's end of turn
    stopped = sample_with_record(model, tokenizer, "To be, or", 12, 0.0, None, stop_at_eos=True)
    assert stopped.steps.ids == ids[:first_new]  # the end token ends the reply and is not part of it
    assert stopped.text == tokenizer.decode(ids[:first_new])


def test_bfloat16_is_picked_on_request_and_auto_says_why(models):
    from studio_trainer.hf.load import cpu_has_native_bf16, load_hf, pick_dtype

    model, _, config = load_hf(models["qwen2"], "cpu", "bfloat16")
    assert next(model.parameters()).dtype == torch.bfloat16 and "bfloat16 (asked for)" in config["loaded_as"]
    chosen, why = pick_dtype("cpu", "auto")
    assert chosen == ("bfloat16" if cpu_has_native_bf16() else "float32") and why


def test_the_hf_provider_applies_the_chat_template_and_records_tokens(models):
    from studio_trainer.hf.provider import complete

    folder = models["qwen2"]
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "To be?"}]
    reply = complete(f"hf/{folder}", messages, max_tokens=6, temperature=0, seed=0)
    tokens = reply["studio_tokens"]
    assert tokens["prompt"] == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nTo be?<|im_end|>\n<|im_start|>assistant\n"
    )
    assert tokens["template"] == "the model's chat template" and tokens["context"] == 128
    assert reply["model"] == f"hf/{folder.resolve()}" and reply["choices"][0]["message"]["role"] == "assistant"
    content = reply["choices"][0]["logprobs"]["content"]
    assert len(content) == reply["usage"]["completion_tokens"] == len(tokens["reply_ids"]) <= 6
    assert all(len(c["top_logprobs"]) == 20 for c in content)
    # the special tokens of the template are single tokens of the prompt
    assert "<|im_start|>" in tokens["prompt_tokens"] and "<|im_end|>" in tokens["prompt_tokens"]
    again = complete(f"hf/{folder}", messages, max_tokens=6, temperature=0, seed=0)
    assert again["choices"][0]["message"] == reply["choices"][0]["message"] and "studio_load" not in again


def test_a_folder_without_a_chat_template_is_rendered_plainly_and_says_so(models, tmp_path):
    import shutil

    from studio_trainer.hf.provider import complete

    folder = tmp_path / "plain"
    shutil.copytree(models["gpt2"], folder)
    (folder / "chat_template.jinja").unlink()
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    reply = complete(f"hf/{folder}", [{"role": "user", "content": "To be?"}], max_tokens=3, temperature=0)
    assert reply["studio_tokens"]["prompt"] == "To be?\n" and "no chat template" in reply["studio_tokens"]["template"]


def test_cli_generates_and_tokenizes_with_a_folder(models, cli):
    folder = models["llama"]
    out = cli("trainer", "generate", folder, "--prompt", "To be", "--max-new-tokens", 5, "--seed", 1)
    assert out.stdout.startswith("To be") and "llama in" in out.stderr
    tok = cli("trainer", "tokenize", folder, "To be, or not")
    assert "tokens for 13 characters (hf" in tok.stdout
    bad = cli("trainer", "generate", folder, "--dtype", "float8", check=False)
    assert bad.returncode == 2 and "--dtype" in bad.stderr and "Traceback" not in bad.stderr


def _pickle_only(source: Path, dest: Path) -> Path:
    import shutil

    from safetensors.torch import load_file

    shutil.copytree(source, dest)
    torch.save(load_file(str(dest / "model.safetensors")), dest / "pytorch_model.bin")
    (dest / "model.safetensors").unlink()
    return dest


def test_unsafe_or_incomplete_folders_are_refused_in_one_line(models, tmp_path, cli, make_studio, run_job):
    import shutil

    pickled = _pickle_only(models["llama"], tmp_path / "pickled")
    refused = cli("trainer", "generate", pickled, "--max-new-tokens", "2", check=False)
    assert refused.returncode == 2 and "pytorch_model.bin is a PyTorch pickle" in refused.stderr
    assert "--allow-pickle" in refused.stderr and "Traceback" not in refused.stderr
    allowed = cli("trainer", "generate", pickled, "--max-new-tokens", "2", "--allow-pickle")
    assert allowed.returncode == 0

    remote = tmp_path / "remote"
    shutil.copytree(models["llama"], remote)
    config = json.loads((remote / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}
    (remote / "config.json").write_text(json.dumps(config))
    (remote / "modeling_evil.py").write_text("raise SystemExit('remote code ran')\n")
    out = cli("trainer", "generate", remote, check=False)
    assert out.returncode == 2 and "never runs (trust_remote_code stays off)" in out.stderr

    hub = tmp_path / "hub-id-only"
    hub.mkdir()
    config = json.loads((models["qwen2"] / "config.json").read_text())
    (hub / "config.json").write_text(json.dumps({**config, "_name_or_path": "Qwen/Qwen2-0.5B"}))
    out = cli("trainer", "generate", hub, check=False)
    assert out.returncode == 2 and "'Qwen/Qwen2-0.5B'" in out.stderr and "never downloads" in out.stderr

    corrupt = tmp_path / "corrupt"
    shutil.copytree(models["gpt2"], corrupt)
    (corrupt / "model.safetensors").write_bytes(b"\x00" * 64)
    studio = make_studio(("trainer", trainer_hooks))
    job = run_job(studio, "trainer.generate", {"checkpoint": str(corrupt), "max_new_tokens": 2})
    assert job.status == RunStatus.FAILED and "could not load the model" in (job.error or "")
    with pytest.raises(JobError, match="never runs"):
        run_job(studio, "trainer.generate", {"checkpoint": str(remote)})  # refused at submit


def test_a_pickle_named_safetensors_is_never_unpickled(models, tmp_path):
    import shutil

    from studio_trainer.hf.folder import HFFolderError
    from studio_trainer.hf.load import load_hf

    folder = tmp_path / "disguised"
    shutil.copytree(models["llama"], folder)
    marker = tmp_path / "unpickled"

    class Planted:
        def __reduce__(self):
            return (Path.touch, (marker,))

    torch.save({"x": Planted()}, folder / "model.safetensors")
    with pytest.raises(HFFolderError, match=r"PyTorch pickle named \.safetensors"):
        load_hf(folder, "cpu", "float32")
    assert not marker.exists()


def test_sharded_weights_are_a_checkpoint_and_a_loadable_model(models, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from studio.api import ModelNotFound, loadable_model
    from studio_trainer.checkpoint_folders import checkpoint_of, is_checkpoint, resolve_checkpoint
    from studio_trainer.train.checkpoint import load_checkpoint

    folder = tmp_path / "sharded"
    reference = AutoModelForCausalLM.from_pretrained(models["llama"], local_files_only=True)
    reference.save_pretrained(folder, max_shard_size="20KB")
    AutoTokenizer.from_pretrained(models["llama"], local_files_only=True).save_pretrained(folder)
    assert (folder / "model.safetensors.index.json").exists() and not (folder / "model.safetensors").exists()
    assert is_checkpoint(folder) and checkpoint_of(folder) == folder
    assert resolve_checkpoint(str(folder), tmp_path) == folder and loadable_model(folder) == folder
    model, _, config = load_checkpoint(folder, "cpu", generate=True, dtype="float32")
    assert config["format"] == "huggingface" and config["family"] == "llama"
    ids = torch.tensor([[5, 6, 7]])
    with torch.no_grad():
        assert torch.allclose(model(ids)[0][0, -1], reference(ids).logits[0, -1], atol=1e-5)

    # a shard the index names is missing: said before anything loads
    next(folder.glob("model-0000*-of-*.safetensors")).unlink()
    with pytest.raises(Exception, match="the weight index names model-"):
        resolve_checkpoint(str(folder), tmp_path)

    # a pickle-only folder: a loadable model's check says what to do
    pickled = _pickle_only(models["llama"], tmp_path / "pickled")
    with pytest.raises(ModelNotFound, match=r"pytorch_model\.bin is a PyTorch pickle.*--allow-pickle"):
        loadable_model(pickled)


def test_the_hf_provider_takes_per_call_sampling_params(models):
    from studio_trainer.hf.provider import complete

    model = f"hf/{models['gpt2']}"
    messages = [{"role": "user", "content": "To be?"}]
    sampled = [complete(model, messages, max_tokens=8, temperature=1.0, top_k=50, seed=7) for _ in range(2)]
    assert sampled[0]["studio_tokens"]["reply_ids"] == sampled[1]["studio_tokens"]["reply_ids"]  # seeded
    text = sampled[0]["choices"][0]["message"]["content"]
    assert len(text) >= 3 and sampled[0]["choices"][0]["finish_reason"] == "length"
    # a stop string cuts the reply where it first appears, and says so
    cut = complete(model, messages, max_tokens=8, temperature=1.0, top_k=50, seed=7, stop=[text[1:3]])
    assert cut["choices"][0]["message"]["content"] == text[: text.index(text[1:3])]
    assert cut["choices"][0]["finish_reason"] == "stop"
    # one loaded copy per folder and dtype: another dtype loads (a load span), then is kept
    first = complete(model, messages, max_tokens=2, temperature=0, dtype="bfloat16")
    again = complete(model, messages, max_tokens=2, temperature=0, dtype="bfloat16")
    assert "studio_load" in first and "studio_load" not in again


def test_hf_models_are_named_by_their_hub_cache_folder(models, tmp_path, make_studio):
    import shutil

    from studio_trainer.hf.provider import complete

    make_studio(("trainer", trainer_hooks))  # the trainer.hf model source resolves cache folders
    repo = tmp_path / "hub" / "models--org--tiny-chat"
    shutil.copytree(models["qwen2"], repo / "snapshots" / "0123abcd")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    reply = complete(f"hf/{repo}", [{"role": "user", "content": "hi"}], max_tokens=2, temperature=0)
    assert reply["model"] == f"hf/{(repo / 'snapshots' / '0123abcd').resolve()}"
    assert reply["studio_tokens"]["prompt"].startswith("<|im_start|>user\nhi<|im_end|>")


def test_a_studio_checkpoint_s_planted_pickle_is_never_unpickled(tmp_path):
    from studio_trainer.config import ModelConfig
    from studio_trainer.data.tokenizer import CharTokenizer
    from studio_trainer.model.gpt import GPT
    from studio_trainer.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

    tokenizer = CharTokenizer(list("abc "))
    net = GPT(ModelConfig(n_layer=1, n_head=1, n_embd=8, block_size=8, vocab_size=tokenizer.vocab_size))
    folder = save_checkpoint(tmp_path / "ckpt", net, tokenizer, step=1, val_loss=None)
    marker = tmp_path / "unpickled"

    class Planted:
        def __reduce__(self):
            return (Path.touch, (marker,))

    torch.save({"x": Planted()}, folder / "model.safetensors")
    for allow_pickle in (False, True):  # the opt-in is for Hugging Face folders only
        with pytest.raises(CheckpointError, match="PyTorch pickle"):
            load_checkpoint(folder, "cpu", generate=True, allow_pickle=allow_pickle)
    assert not marker.exists()


def test_the_hf_provider_applies_an_intervention_for_one_call(models, tmp_path):
    from studio_trainer.hf.load import load_hf
    from studio_trainer.hf.provider import complete
    from studio_trainer.inspect import HeadAblation, save_program

    folder = models["llama"]
    net, _, _ = load_hf(folder, "cpu", "float32")
    program = save_program(tmp_path / "ablate.json", [HeadAblation(1, 0)], net)
    messages = [{"role": "user", "content": "hi"}]

    def first_logprob(reply: dict) -> float:
        return reply["choices"][0]["logprobs"]["content"][0]["logprob"]

    plain = complete(f"hf/{folder}", messages, max_tokens=3, temperature=0)
    ablated = complete(f"hf/{folder}", messages, max_tokens=3, temperature=0, intervention=str(program))
    after = complete(f"hf/{folder}", messages, max_tokens=3, temperature=0)
    assert ablated["studio_intervention"] == {"file": str(program), "summary": "ablate L1H0 (zero)"}
    assert abs(first_logprob(ablated) - first_logprob(plain)) > 1e-6  # the head's output was zeroed
    assert first_logprob(after) == first_logprob(plain) and "studio_intervention" not in after  # one call only


def test_an_encoder_folder_is_no_checkpoint(tmp_path):
    from studio_trainer.checkpoint_folders import CheckpointError, is_checkpoint, resolve_checkpoint

    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    (folder / "model.safetensors").write_bytes(b"")
    assert not is_checkpoint(folder)
    with pytest.raises(CheckpointError, match="not a causal language model"):
        resolve_checkpoint(str(folder))
