"""The inspection engine: attention maps, logit lens, attribution, interventions, records,
save/load and ``tensor-studio inspect``, on tiny models built in-process."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from studio.api import TokenRecord
from studio.testing import run_cli
from studio_trainer.config import ModelConfig
from studio_trainer.data.tokenizer import CharTokenizer
from studio_trainer.inspect import (
    HeadAblation,
    InspectError,
    Inspection,
    LayerAblation,
    ResidualPatch,
    inspect_ids,
    inspect_record,
    inspect_text,
    intervene,
    load_interventions,
    save_interventions,
)
from studio_trainer.inspect.inspection import attention_summary, pool_max
from studio_trainer.model.gpt import GPT
from studio_trainer.train.checkpoint import save_checkpoint

TOKENIZER = CharTokenizer(list("abcdefghijklmnopqrstuvwxyz .,:\n"))
TEXT = "first citizen: speak, speak.\nall: we"


def randomized(model: GPT, seed: int) -> GPT:
    """Every parameter random (biases, norms, lag weights too), so no term of a sum is
    trivially zero and every head differs."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * (0.3 if p.dim() > 1 else 0.2) + (p.dim() == 1) * 0.5)
    return model.eval()


def make(attention: str = "causal", seed: int = 0, **kw) -> GPT:
    config = ModelConfig(
        n_layer=2, n_head=2, n_embd=16, block_size=48, vocab_size=TOKENIZER.vocab_size, attention=attention, **kw
    )
    return randomized(GPT(config), seed)


@pytest.fixture(scope="module")
def models() -> dict[str, GPT]:
    return {"causal": make("causal"), "xcorr": make("xcorr", seed=1, xcorr_lags=3)}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, models):
    folder = tmp_path_factory.mktemp("inspect") / "ckpt"
    return save_checkpoint(folder, models["causal"], TOKENIZER, step=1, val_loss=None)


def ids_of(text: str = TEXT) -> list[int]:
    return TOKENIZER.encode(text)


def logprobs_of(model: GPT, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        logits, _ = model(torch.tensor([ids]), torch.tensor([ids]))
    return F.log_softmax(logits[0].float(), dim=-1)


@pytest.mark.parametrize("attention", ["causal", "xcorr"])
def test_attention_maps_are_causal_and_reproduce_the_forward_pass(models, attention, monkeypatch):
    model = models[attention]
    ids = ids_of()
    inspection = inspect_ids(model, TOKENIZER, ids, top_k=5, name=attention)
    T = len(ids)
    assert inspection.attention_available and inspection.n_head == 2
    assert inspection.attention_shape() == [2, 2, T, T]
    everything = inspect_ids(model, TOKENIZER, ids, attention="all").attention_all()
    for layer in range(2):
        attn = model.blocks[layer].attn
        x = inspection._attn_in[layer].unsqueeze(0)
        maps = np.stack([inspection.attention(layer, head) for head in range(2)])
        assert maps.shape == (2, T, T)
        assert np.all(np.triu(maps, k=1) == 0), "a query attended to a later token"
        np.testing.assert_allclose(maps.sum(-1), 1.0, atol=1e-5)
        assert maps[:, 5, :6].std() > 1e-3  # not uniform: the random weights matter
        with torch.no_grad():
            _q, _k, v, _scale = attn.project(x)
            rebuilt = attn.merge(torch.from_numpy(maps).unsqueeze(0) @ v)
            torch.testing.assert_close(rebuilt, attn(x), atol=1e-5, rtol=1e-4)
        # the maps taken during the forward pass (full inspection) are the on-demand ones
        np.testing.assert_allclose(everything[layer], maps, atol=1e-6)
    # a cache too small for one layer still answers each map, and keeps the one asked for
    monkeypatch.setattr("studio_trainer.inspect.inspection.CACHE_BYTES", 1)
    small = inspect_ids(model, TOKENIZER, ids)
    np.testing.assert_array_equal(small.attention(1, 0), inspection.attention(1, 0))
    assert list(small._maps) == [(1, 0)]
    thumb = inspection.attention_thumbnail(1, 0, size=8)
    assert thumb.shape == (8, 8) and thumb.max() == inspection.attention(1, 0).max()
    assert pool_max(np.arange(9.0).reshape(3, 3), 6).shape == (6, 6)
    file, line, name = inspection.code_location(0, "attn")
    cls = type(model.blocks[0].attn)
    assert name.endswith(cls.__qualname__) and file.endswith(f"{attention if attention == 'xcorr' else 'gpt'}.py")
    with open(file, encoding="utf-8") as source:
        assert f"class {cls.__name__}" in source.readlines()[line - 1]


def test_the_logit_lens_at_the_last_layer_is_the_models_own_prediction(models):
    model = models["causal"]
    ids = ids_of()
    inspection = inspect_ids(model, TOKENIZER, ids, top_k=4)
    assert not inspection.lens_ready  # the layers before the last: on first read
    logp = logprobs_of(model, ids)
    T = len(ids)
    assert np.isnan(inspection.logprobs[0])
    expected = logp[torch.arange(T - 1), torch.tensor(ids[1:])].numpy()
    np.testing.assert_allclose(inspection.logprobs[1:], expected, atol=1e-4)
    top = logp.topk(4, dim=-1)
    np.testing.assert_array_equal(inspection.top_ids, top.indices.numpy())
    np.testing.assert_allclose(inspection.top_logprobs, top.values.numpy(), atol=1e-4)
    np.testing.assert_allclose(inspection.entropy, -(logp.exp() * logp).sum(-1).numpy(), atol=1e-4)
    last = inspection.lens_top_ids.shape[0] - 1
    assert last == 2
    np.testing.assert_array_equal(inspection.lens_top_ids[last], logp.argmax(-1).numpy())
    np.testing.assert_allclose(inspection.lens_target_prob[last, :-1], np.exp(expected), atol=1e-5)
    ranks = (logp[:-1] > torch.from_numpy(expected).unsqueeze(1)).sum(-1).numpy()
    np.testing.assert_array_equal(inspection.lens_target_rank[last, :-1], ranks)
    assert inspection.lens_target_rank[0, -1] == -1
    assert not np.array_equal(inspection.lens_top_ids[0], inspection.lens_top_ids[last])  # earlier layers differ
    assert inspection.lens_ready
    # read lazily or all at once, the lens is the same: every layer through the final norm and head
    from studio_trainer.inspect.capture import capture
    from studio_trainer.inspect.lens import logit_lens

    whole = logit_lens(model, capture(model, torch.tensor([ids])).resid, torch.tensor(ids), 4)
    np.testing.assert_array_equal(inspection.lens_top_ids, whole.top_ids)
    np.testing.assert_array_equal(inspection.lens_target_rank, whole.target_rank)
    np.testing.assert_allclose(inspection.lens_target_prob, whole.target_prob, atol=1e-6)


def test_direct_logit_attribution_sums_to_the_logit(models):
    model = models["xcorr"]
    ids = ids_of()
    inspection = inspect_ids(model, TOKENIZER, ids)
    a = inspection.attribution
    assert a is not None and a["heads"].shape == (2, 2, len(ids))
    with torch.no_grad():
        logits, _ = model(torch.tensor([ids]), torch.tensor([ids]))
    targets = torch.tensor(ids[1:] + [int(logits[0, -1].argmax())])
    assert list(a["target_ids"]) == targets.tolist()
    logit = logits[0].gather(1, targets.unsqueeze(1)).squeeze(1).numpy()
    total = a["embed"] + a["attn"].sum(0) + a["mlp"].sum(0) + a["bias"]
    scale = np.abs(logit).max()
    np.testing.assert_allclose(total, logit, atol=1e-3 * scale)
    np.testing.assert_allclose(a["heads"].sum(1) + a["attn_bias"], a["attn"], atol=1e-3 * scale)
    assert np.abs(a["heads"]).min() < np.abs(a["heads"]).max()  # the heads differ
    assert inspection.resid_norm.shape == (3, len(ids)) and inspection.mlp_norm.shape == (2, len(ids))
    from studio_trainer.inspect.capture import capture
    from studio_trainer.inspect.engine import Histograms, _histogram

    hist = inspection.mlp_hist
    assert isinstance(hist, Histograms) and not hist.ready(1)  # computed when first read, not by every inspection
    counts, edges = hist[1]
    assert counts.sum() == len(ids) * 4 * 16 and len(edges) == len(counts) + 1 == 65

    eager_counts, eager_edges = _histogram(capture(model, torch.tensor([ids])).mlp_hidden[1])
    assert counts.tolist() == eager_counts.tolist()  # the block re-run sees what the pass saw
    np.testing.assert_allclose(edges, eager_edges, rtol=1e-6)


def test_interventions(models):
    model = models["causal"]
    ids = ids_of()
    inspection = inspect_ids(model, TOKENIZER, ids)
    nothing = intervene(inspection, [], position=10)
    assert nothing.kl == 0.0 and nothing.delta == 0.0 and nothing.top_before == nothing.top_after
    assert nothing.target_id == ids[11]
    same = intervene(inspection, [ResidualPatch(1, 10, TEXT)], position=10)
    assert same.kl < 1e-9 and abs(same.delta) < 1e-6
    head = intervene(inspection, [HeadAblation(1, 1)], position=10)
    assert head.kl > 1e-4 and head.delta != 0.0
    # zeroing a head is zeroing its columns of attn.proj
    ablated = make("causal")
    proj = ablated.get_submodule("blocks.1.attn.proj")
    assert isinstance(proj, torch.nn.Linear)
    with torch.no_grad():
        proj.weight[:, 8:16] = 0
    expected = logprobs_of(ablated, ids)[10, ids[11]]
    assert abs(head.logprob_after - float(expected)) < 1e-4
    for item in (HeadAblation(0, 0, "mean"), LayerAblation(0, "attn"), LayerAblation(1, "mlp", "mean")):
        assert intervene(inspection, [item], position=10).kl > 1e-5, item
    block = intervene(inspection, [LayerAblation(0, "block"), LayerAblation(1, "block")], position=10)
    assert block.kl > 1e-4
    # patching the final residual stream at the last position gives the source's prediction
    other = "all: speak"
    patched = intervene(inspection, [ResidualPatch(2, -1, other)])
    source = logprobs_of(model, ids_of(other))[-1]
    assert patched.top_after[0][0] == TOKENIZER.decode([int(source.argmax())])
    assert abs(patched.top_after[0][1] - float(source.max().exp())) < 1e-5
    with pytest.raises(InspectError, match="out of range"):
        intervene(inspection, [HeadAblation(0, 5)])
    with pytest.raises(InspectError, match="ablation mode"):
        intervene(inspection, [LayerAblation(0, "mlp", "half")])


def test_interventions_save_as_a_small_readable_file(tmp_path):
    items = [HeadAblation(1, 0, "mean"), LayerAblation(0, "mlp"), ResidualPatch(1, 3, "hi", None)]
    path = save_interventions(tmp_path / "i.json", items)
    assert json.loads(path.read_text())["format"] == "studio.intervention/1"
    assert load_interventions(path) == items
    path.write_text('{"format": "studio.intervention/1", "interventions": [{"kind": "nope"}]}')
    with pytest.raises(InspectError, match="cannot be read"):
        load_interventions(path)


def _greedy_record(model: GPT, prompt: str, n: int, temperature: float = 0.0, name: str = "studio/x") -> TokenRecord:
    """What the local provider records: the model's own log-probabilities of each token."""
    ids = ids_of(prompt)
    generator = torch.Generator().manual_seed(3)
    reply: list[int] = []
    logprobs = []
    for _ in range(n):
        logp = logprobs_of(model, (ids + reply)[-model.config.block_size :])[-1]  # generate's window
        if temperature:
            nxt = int(torch.multinomial((logp / temperature).softmax(-1), 1, generator=generator))
        else:
            nxt = int(logp.argmax())
        logprobs.append(float(logp[nxt]))
        reply.append(nxt)
    return TokenRecord(
        model=name,
        prompt=prompt,
        reply=TOKENIZER.decode(reply),
        reply_tokens=[TOKENIZER.decode([i]) for i in reply],
        logprobs=logprobs,
        top_tokens=[[] for _ in reply],
        top_logprobs=[[] for _ in reply],
        prompt_ids=ids,
        reply_ids=reply,
        sampling={"temperature": temperature},
    )


def all_ids(record: TokenRecord) -> list[int]:
    return [*(record.prompt_ids or []), *(record.reply_ids or [])]


def test_recorded_and_recomputed_logprobs(models, checkpoint):
    model = models["causal"]
    greedy = _greedy_record(model, "all: speak", 8, name=f"studio/{checkpoint}")
    inspection = inspect_record(greedy)  # loads the checkpoint the model string names
    assert inspection.reply_start == len(ids_of("all: speak"))
    ok, message = inspection.check_record(greedy)
    assert ok, message
    assert "match" in message
    sampled = _greedy_record(model, "all: speak", 8, temperature=0.8)
    inspection = inspect_ids(model, TOKENIZER, all_ids(sampled), reply_start=10)
    ok, message = inspection.check_record(sampled)
    assert ok and "temperature 0.8" in message
    other = _greedy_record(models["xcorr"], "all: speak", 8, name="studio/other")
    mine = inspect_ids(model, TOKENIZER, all_ids(other), name="mine", reply_start=10)
    ok, message = mine.check_record(other)
    assert not ok and "do NOT match" in message and "'studio/other'" in message
    empty = TokenRecord("studio/x", "p", "", [], [], [], [], note="the provider returned no logprobs")
    assert mine.check_record(empty) == (
        False,
        "cannot compare: the record has no log-probabilities (the provider returned no logprobs)",
    )


def test_a_call_longer_than_the_context_is_inspected_over_its_last_window(tmp_path, monkeypatch):
    config = ModelConfig(n_layer=2, n_head=2, n_embd=16, block_size=16, vocab_size=TOKENIZER.vocab_size)
    model = randomized(GPT(config), 5)
    folder = save_checkpoint(tmp_path / "short", model, TOKENIZER, step=1, val_loss=None)
    prompt = "first citizen: speak"  # 20 tokens, the reply 10: 30 > 16
    record = _greedy_record(model, prompt, 10, name=f"studio/{folder}")
    inspection = inspect_record(record)
    assert inspection.T == 16 and inspection.window_start == 14 and inspection.ids == all_ids(record)[-16:]
    assert inspection.reply_start == len(prompt) - 14
    assert inspection.window_note() == "the text is 30 tokens; the model's context is 16: inspecting the last 16"
    ok, message = inspection.check_record(record)
    assert ok and "over 10 tokens" in message, message
    wrong = _greedy_record(model, prompt, 10)
    wrong.logprobs = [*wrong.logprobs[:-1], wrong.logprobs[-1] - 0.5]  # the last token: its window differs from all
    ok, message = inspection.check_record(wrong)
    assert not ok and "at reply token 9" in message, message
    monkeypatch.setattr("studio_trainer.inspect.inspection.MAX_WINDOWS", 4)
    ok, message = inspection.check_record(record)
    assert ok and "checked 4 of 10 reply tokens (the others were generated from other windows)" in message, message
    loaded = Inspection.load(inspection.save(tmp_path / "saved"))  # no model: no window can be recomputed
    assert loaded.window_start == 14 and loaded.window_note() == inspection.window_note()
    ok, message = loaded.check_record(record)
    assert not ok and "none of the 10 reply tokens" in message
    meta = json.loads((tmp_path / "saved" / "inspection.json").read_text())
    (tmp_path / "saved" / "inspection.json").write_text(json.dumps({**meta, "window_start": -3}))
    with pytest.raises(InspectError, match="corrupt: a window at token -3 of 30"):
        Inspection.load(tmp_path / "saved")
    with pytest.raises(InspectError, match=r"the text is 36 tokens; .*context is 16 tokens: shorten it.*--last"):
        inspect_text(folder, TEXT)
    tail = inspect_text(folder, TEXT, last=True)
    assert tail.tokens == list(TEXT[-16:]) and tail.window_start == 20


PLUGIN_ATTENTION = '''
import math
import torch, torch.nn as nn
from studio.api import ModelPart, hookimpl

class MeanAttention(nn.Module):
    """A causal running mean: no maps, no heads."""
    def __init__(self, config):
        super().__init__()
        self.proj = nn.Linear(config.n_embd, config.n_embd)
    def forward(self, x):
        count = torch.arange(1, x.size(1) + 1, device=x.device).view(1, -1, 1)
        return self.proj(x.cumsum(1) / count)

class DecayAttention(nn.Module):
    """Heads whose scores fall with distance (ALiBi-like), with maps: the documented
    optional interface (n_head, project, attention_weights, merge, proj)."""
    def __init__(self, config):
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
    def project(self, x):
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.n_head, -1).transpose(1, 2) for t in self.qkv(x).split(C, dim=2))
        return q, k, v, 1.0 / math.sqrt(v.size(-1))
    def attention_weights(self, x):
        q, k, _, scale = self.project(x)
        T = x.size(1)
        distance = (torch.arange(T).view(-1, 1) - torch.arange(T).view(1, -1)).float()
        slopes = torch.arange(1, self.n_head + 1).float().view(1, -1, 1, 1) * 0.5
        scores = (q @ k.transpose(-2, -1)) * scale - slopes * distance
        return scores.masked_fill(distance < 0, float("-inf")).softmax(-1)
    def merge(self, y):
        B, H, T, D = y.shape
        return self.proj(y.transpose(1, 2).reshape(B, T, H * D))
    def forward(self, x):
        return self.merge(self.attention_weights(x) @ self.project(x)[2])

@hookimpl
def studio_model_parts():
    return [ModelPart("mean", "attention", "Running mean", "inspect_attention_plugin:MeanAttention"),
            ModelPart("decay", "attention", "Decaying", "inspect_attention_plugin:DecayAttention")]
'''


def test_plugin_attention_types_can_be_inspected(plugin_distribution):
    site = plugin_distribution(
        "inspect-attention", {"inspattn": "inspect_attention_plugin"}, {"inspect_attention_plugin": PLUGIN_ATTENTION}
    )
    ids = ids_of()
    mean = make("mean", seed=2)
    inspection = inspect_ids(mean, TOKENIZER, ids)
    assert not inspection.attention_available and inspection.n_head is None
    assert any("MeanAttention has no attention_weights" in u for u in inspection.unavailable)
    with pytest.raises(InspectError, match="attention_weights"):
        inspection.attention(0, 0)
    np.testing.assert_allclose(
        inspection.logprobs[1:],
        logprobs_of(mean, ids)[:-1].gather(1, torch.tensor(ids[1:]).unsqueeze(1)).squeeze(1).numpy(),
        atol=1e-4,
    )
    assert inspection.attribution is not None and inspection.attribution["heads"] is None
    file, _line, name = inspection.code_location(1, "attn")
    assert name == "inspect_attention_plugin.MeanAttention" and file.startswith(str(site))
    assert intervene(inspection, [LayerAblation(0, "attn")]).kl > 0
    assert attention_summary(inspection) == []

    decay = make("decay", seed=3)
    inspection = inspect_ids(decay, TOKENIZER, ids)
    assert inspection.attention_available and inspection.n_head == 2
    maps = inspection.attention(1, 1)
    assert np.all(np.triu(maps, k=1) == 0) and not np.allclose(maps, inspection.attention(1, 0))
    assert inspection.attribution is not None and inspection.attribution["heads"].shape == (2, 2, len(ids))
    assert intervene(inspection, [HeadAblation(0, 1)]).kl > 1e-5
    assert inspection.code_location(0, "attn")[2] == "inspect_attention_plugin.DecayAttention"


def test_an_inspection_saves_and_opens_again(models, tmp_path):
    inspection = inspect_ids(models["causal"], TOKENIZER, ids_of(), top_k=3, name="m", reply_start=4)
    path = inspection.save(tmp_path / "saved")
    back = Inspection.load(tmp_path / "saved")
    assert path.name == "inspection.json" and back.tokens == inspection.tokens and back.reply_start == 4
    for name in ("logprobs", "top_ids", "lens_target_rank", "lens_top_prob", "resid_norm", "mlp_norm"):
        np.testing.assert_array_equal(getattr(back, name), getattr(inspection, name))
    assert back.attribution is not None and inspection.attribution is not None
    np.testing.assert_array_equal(back.attribution["heads"], inspection.attribution["heads"])
    np.testing.assert_allclose(back.attention(1, 0), inspection.attention(1, 0), atol=1e-3)  # saved as float16
    assert back.code_location(0, "mlp") == inspection.code_location(0, "mlp")
    assert back.to_json() == inspection.to_json()
    with pytest.raises(InspectError, match="without it"):
        intervene(back, [])
    (tmp_path / "saved" / "inspection.safetensors").write_bytes(b"garbage")
    with pytest.raises(InspectError, match="corrupt"):
        Inspection.load(tmp_path / "saved")
    with pytest.raises(InspectError, match="cannot open"):
        Inspection.load(tmp_path / "nothing")


def test_inspect_text_names_a_model_and_refuses_bad_input(checkpoint, models):
    inspection = inspect_text(f"studio/{checkpoint}", TEXT, top_k=2)
    np.testing.assert_allclose(
        inspection.logprobs[1:], inspect_ids(models["causal"], TOKENIZER, ids_of()).logprobs[1:], atol=1e-5
    )
    with pytest.raises(InspectError, match=r"the text is 60 tokens; .*context is 48 tokens: shorten it"):
        inspect_text(checkpoint, "a" * 60)
    with pytest.raises(InspectError, match="no text"):
        inspect_text(checkpoint, "")


def test_cli_inspect(studio_home, checkpoint, tmp_path, capsys):
    assert run_cli(["inspect", checkpoint, "--text", "speak, speak", "--top-k", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    T = len("speak, speak")
    assert data["tokens"] == list("speak, speak") and data["attention_shape"] == [2, 2, T, T]
    assert len(data["positions"]) == T and data["positions"][0]["logprob"] is None
    assert data["positions"][0]["top"] == [] and data["positions"][0]["entropy"] is None
    assert all(len(p["top"]) == 3 and isinstance(p["top"][0][0], str) for p in data["positions"][1:])
    assert len(data["next"]) == 3 and data["next_entropy"] > 0
    assert run_cli(["inspect", checkpoint, "--text", "speak, speak", "--top-k", "50", "--json"]) == 0
    every = json.loads(capsys.readouterr().out)["positions"]
    for p in every[1:]:  # top: the distribution the token itself was drawn from, so it lists the token
        listed = dict(p["top"])
        assert listed[p["token"]] == pytest.approx(p["logprob"], abs=1e-4), p
        assert p["entropy"] >= -sum(math.exp(lp) * lp for lp in listed.values()) - 1e-4  # the same step's
    assert len(data["logit_lens"]) == 3 and all(len(row) == T for row in data["logit_lens"])
    assert {"top", "target_rank"} <= set(data["logit_lens"][2][0]) and data["logit_lens"][2][-1]["target_rank"] == -1
    assert run_cli(["inspect", checkpoint, "--text", "speak", "--save", tmp_path / "saved"]) == 0
    out = capsys.readouterr().out
    assert "logit lens" in out and "L1 H1" in out and (tmp_path / "saved" / "inspection.json").exists()
    assert run_cli(["inspect", checkpoint, "--text", "a b\nc"]) == 0
    rows: dict[str, list[str]] = {}
    for line in capsys.readouterr().out.splitlines():  # the first table's rows (the lens table repeats 0 to 4)
        if line[:4].strip():
            rows.setdefault(line.split()[0], line.split())
    assert rows["1"][1] == "␣" and rows["3"][1] == "↵" and rows["0"][2:4] == ["—", "—"] and "next" in rows
    assert run_cli(["inspect", checkpoint, "--text", "a" * 60, "--last", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["window_start"] == 12 and "inspecting the last 48" in captured.err
    corrupt = tmp_path / "corrupt"
    save_checkpoint(corrupt, make("causal"), TOKENIZER, step=1, val_loss=None)
    (corrupt / "model.safetensors").write_bytes(b"\x00" * 64)
    pickled = tmp_path / "pickled"
    save_checkpoint(pickled, make("causal"), TOKENIZER, step=1, val_loss=None)
    (pickled / "model.safetensors").write_bytes(pickle.dumps({"weights": [1, 2]}, protocol=4))
    bad = {
        ("no-such-model", "--text", "hi"): "no checkpoint",
        (corrupt, "--text", "hi"): "corrupt",
        (pickled, "--text", "hi"): "pickle",
        (checkpoint, "--text", ""): "no text",
        (checkpoint, "--text", "a" * 49): "context is 48 tokens: shorten it, or inspect its last 48 tokens (--last)",
        (checkpoint, "--text", "hi", "--top-k", "0"): "top-k must be 1 to 50",
        (checkpoint, "--text", "hi", "--top-k", "51"): "top-k must be 1 to 50",
        (checkpoint, "--text-file", tmp_path / "missing.txt"): "no such file",
    }
    for argv, message in bad.items():
        assert run_cli(["inspect", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, (argv, err)
