"""What a model costs: parameters per layer, FLOPs per token, memory for training.

FLOPs follow the PaLM appendix B accounting nanoGPT uses: a forward pass costs
``2 N + 2 L T d_attn`` per token (weights, then the attention scores and their mixing with
values), training is three times that (forward + backward). Memory for AdamW training in
fp32 is 16 bytes per parameter (weights, gradients, two moments) plus activations, which
are estimated per layer and token as about ``34 d + 5 h T`` bytes in 16-bit (Korthikanti
et al., 2022) times two for fp32; gradient checkpointing keeps one activation per layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ModelSummary:
    layers: list[tuple[str, int]] = field(default_factory=list)  # (module name, parameters)
    total_params: int = 0
    trainable_params: int = 0
    flops_per_token: float = 0.0  # training (forward + backward)
    weight_bytes: int = 0
    train_bytes: int = 0  # weights + grads + AdamW moments + activations for one micro-batch

    def table(self) -> str:
        width = max([len(name) for name, _ in self.layers] + [10])
        lines = [f"{'module':<{width}}  {'parameters':>12}"]
        lines += [f"{name:<{width}}  {n:>12,}" for name, n in self.layers]
        lines += [
            f"{'total':<{width}}  {self.total_params:>12,}",
            f"trainable parameters: {self.trainable_params:,}",
            f"training FLOPs per token: {self.flops_per_token / 1e6:,.2f} M",
            f"weights: {human_size(self.weight_bytes)}; training memory estimate: {human_size(self.train_bytes)}",
        ]
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {
            "layers": dict(self.layers),
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "flops_per_token": self.flops_per_token,
            "weight_bytes": self.weight_bytes,
            "train_bytes": self.train_bytes,
        }


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} B"


def flops_per_token(n_params: int, n_layer: int, n_embd: int, block_size: int, attention_factor: float = 1.0) -> float:
    """Training FLOPs per token; ``attention_factor`` scales the score term (xcorr: its lags)."""
    return 6 * n_params + 6 * n_layer * block_size * n_embd * (1 + attention_factor)


def summarize(model, batch_size: int = 1, grad_checkpointing: bool = False, bytes_per_value: int = 4) -> ModelSummary:
    """Summarise a built model (exact parameter counts, any registered part)."""
    cfg = model.config
    layers: list[tuple[str, int]] = []
    seen: set[int] = set()
    for name, module in model.named_children():
        items = module if name == "blocks" else [module]
        for i, sub in enumerate(items):
            own = list(sub.parameters())
            if not own:
                continue  # dropout and the like
            n = sum(p.numel() for p in own if id(p) not in seen)
            seen.update(id(p) for p in own)
            label = f"blocks.{i}" if name == "blocks" else name
            layers.append((label if n else f"{label} (tied to wte)", n))
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return _with_costs(
        ModelSummary(layers=layers, total_params=total, trainable_params=trainable),
        cfg,
        batch_size,
        grad_checkpointing,
        bytes_per_value,
    )


def estimate(cfg, vocab_size: int, batch_size: int = 1, grad_checkpointing: bool = False) -> ModelSummary:
    """The same figures for the built-in GPT without building it (forms; no torch)."""
    n = estimate_params(cfg, vocab_size)
    return _with_costs(ModelSummary(total_params=n, trainable_params=n), cfg, batch_size, grad_checkpointing)


def _with_costs(
    summary: ModelSummary, cfg, batch_size: int, grad_checkpointing: bool, bytes_per_value: int = 4
) -> ModelSummary:
    """Fill in FLOPs and memory from the parameter counts: the one place that accounting lives."""
    total, trainable = summary.total_params, summary.trainable_params
    lag_factor = cfg.xcorr_lags if cfg.attention == "xcorr" else 1.0
    non_embedding = total - cfg.block_size * cfg.n_embd  # position embeddings cost no FLOPs
    summary.flops_per_token = flops_per_token(non_embedding, cfg.n_layer, cfg.n_embd, cfg.block_size, lag_factor)
    summary.weight_bytes = total * bytes_per_value
    summary.train_bytes = int(
        16 * trainable
        + total * bytes_per_value * (trainable < total)
        + activation_bytes(cfg, batch_size, grad_checkpointing)
    )
    return summary


def activation_bytes(cfg, batch_size: int, grad_checkpointing: bool) -> float:
    per_layer_token = 2 * (34 * cfg.n_embd + 5 * cfg.n_head * cfg.block_size)
    tokens = batch_size * cfg.block_size
    if grad_checkpointing:
        return cfg.n_layer * tokens * cfg.n_embd * 4 + per_layer_token * tokens  # one layer live at a time
    return cfg.n_layer * per_layer_token * tokens


def estimate_params(cfg, vocab_size: int) -> int:
    """Parameters of the built-in GPT without building it (for forms, no torch)."""
    d, b = cfg.n_embd, int(cfg.bias)
    attn = d * 3 * d + 3 * d * b + d * d + d * b + (cfg.n_head * cfg.xcorr_lags if cfg.attention == "xcorr" else 0)
    mlp = d * 4 * d + 4 * d * b + 4 * d * d + d * b
    block = attn + mlp + 2 * (d + d * b)
    return vocab_size * d + cfg.block_size * d + cfg.n_layer * block + d + d * b
