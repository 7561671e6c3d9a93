"""Direct logit attribution: how much each part wrote toward the target token's logit.

The final LayerNorm is made linear by freezing each position's scale sigma (the one the real
forward pass used): ``logit = sum over parts of (part - mean(part)) . (gamma * w_target) / sigma + beta . w_target``;
an RMSNorm (Llama, Qwen2) is the same without the centring, sigma being the root mean square.
The parts of a pre-LN model's residual stream are the embeddings and every attention and
MLP output, so their contributions and the bias term sum to the model's own logit (a test
holds it to that). A head's share is its slice of ``attn.proj``'s input times the matching
columns of the projection; the projection's bias is the remainder of the attention's share."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .capture import Capture, submodule


def linear_weight(module: Any, n_in: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight [out, in], bias [out]) of a linear map (``nn.Linear``, GPT-2's ``Conv1D``); for a
    wrapper (LoRA…) read by probing."""
    if isinstance(module, nn.Linear):
        bias = getattr(module, "bias", None)
        bias = torch.zeros(module.out_features) if bias is None else bias
        return module.weight.float(), bias.float()
    weight = getattr(module, "weight", None)
    if type(module).__name__ == "Conv1D" and isinstance(weight, torch.Tensor) and weight.shape[0] == n_in:
        # transformers' GPT-2 projection: x @ weight + bias, the weight stored [in, out]
        bias = getattr(module, "bias", None)
        return weight.float().T, (torch.zeros(weight.shape[1]) if bias is None else bias.float())
    eye = torch.eye(n_in)
    zero = module(torch.zeros(1, n_in)).float()[0]
    return (module(eye).float() - zero).T, zero


def norm_kind(model: Any) -> str:
    """ "layer" (LayerNorm: centred) or "rms" (RMSNorm: scaled only) for the final norm:
    what the model says (``norm_kind``), else the module's type; the sum check catches a wrong guess."""
    kind = getattr(model, "norm_kind", None)
    if kind in ("layer", "rms"):
        return str(kind)
    ln_f = model.ln_f
    if isinstance(ln_f, nn.LayerNorm):
        return "layer"
    rms_type = getattr(nn, "RMSNorm", None)
    if (rms_type is not None and isinstance(ln_f, rms_type)) or "rms" in type(ln_f).__name__.lower():
        return "rms"
    return "layer"


def _eps(norm: Any) -> float:
    """The norm's epsilon: ``eps`` (PyTorch), ``variance_epsilon`` (transformers' RMSNorms)."""
    rms_type = getattr(nn, "RMSNorm", None)
    if rms_type is not None and isinstance(norm, rms_type) and norm.eps is None:
        return float(torch.finfo(torch.float32).eps)  # what nn.RMSNorm uses then
    for name in ("eps", "variance_epsilon"):
        value = getattr(norm, name, None)
        if isinstance(value, (int, float)):
            return float(value)
    return 1e-5


@torch.no_grad()
def direct_logit_attribution(
    model: Any, cap: Capture, target_ids: torch.Tensor, n_head: int | None, final_logit: torch.Tensor
) -> tuple[dict | None, str]:
    """The attribution dict (numpy arrays), or None and why it is unavailable. ``final_logit``
    [T]: the model's logit of each target, which the parts must sum to (else the block type
    is not a plain residual sum, and the attribution would mislead)."""
    L = len(cap.attn_out)
    if any(a is None for a in cap.attn_out) or any(m is None for m in cap.mlp_out):
        return None, "attribution: the block type has no attn/mlp parts to attribute to"
    x_final = cap.resid[-1]
    ln_f = model.ln_f
    C = x_final.size(-1)
    gamma = ln_f.weight.float() if getattr(ln_f, "weight", None) is not None else torch.ones(C)
    beta = ln_f.bias.float() if getattr(ln_f, "bias", None) is not None else torch.zeros(C)
    eps = _eps(ln_f)
    rms = norm_kind(model) == "rms"
    if rms:  # RMSNorm: scaled by the root mean square, not centred
        sigma = torch.sqrt(x_final.pow(2).mean(dim=-1, keepdim=True) + eps)  # [T, 1]
    else:
        sigma = torch.sqrt(x_final.var(dim=-1, unbiased=False, keepdim=True) + eps)
    w_u, _ = linear_weight(model.lm_head, C)
    # (c - mean c) · u == c · (u - mean u); u depends on the position only through sigma, so
    # what goes through a projection is computed once per distinct target token
    targets, inverse = torch.unique(target_ids, return_inverse=True)
    base = w_u[targets] * gamma
    if not rms:
        base = base - base.mean(dim=-1, keepdim=True)  # [distinct targets, C]
    u = base[inverse] / sigma  # [T, C]
    w_t = w_u[target_ids]

    def dla(part: torch.Tensor) -> torch.Tensor:
        return (part.float() * u).sum(-1)  # (einsum would batch T one-row products)

    embed = dla(cap.resid[0])
    attn_dla = torch.stack([dla(a) for a in cap.attn_out if a is not None])  # [L, T]
    mlp_dla = torch.stack([dla(m) for m in cap.mlp_out if m is not None])
    bias = w_t @ beta
    total = embed + attn_dla.sum(0) + mlp_dla.sum(0) + bias
    scale = float(final_logit.abs().max()) + 1.0
    if not torch.allclose(total, final_logit.float(), rtol=1e-3, atol=1e-3 * scale):
        return None, "attribution: the block type is not x + attn(…) + mlp(…), so the parts do not sum to the logit"
    result: dict = {
        "embed": embed.numpy(),
        "attn": attn_dla.numpy(),
        "mlp": mlp_dla.numpy(),
        "bias": bias.numpy(),
        "target_ids": target_ids.numpy(),
        "heads": None,
        "attn_bias": None,
    }
    if n_head and all(h is not None for h in cap.head_in):
        heads, proj_bias = [], []
        for layer in range(L):
            proj = submodule(model.blocks[layer].attn, "proj")
            y = cap.head_in[layer]
            assert proj is not None and y is not None
            weight, bias_vector = linear_weight(proj, y.size(-1))  # [C, H*D], [C]
            g = (base @ weight)[inverse] / sigma  # [T, H*D]: u @ weight
            T = y.size(0)
            heads.append((y.float() * g).view(T, n_head, -1).sum(-1).T)  # [H, T]
            proj_bias.append(u @ bias_vector)  # [T]
        result["heads"] = torch.stack(heads).numpy()
        result["attn_bias"] = torch.stack(proj_bias).numpy()  # heads.sum(1) + attn_bias == attn
    return result, ""
