"""FLOPs and bytes of every op of a decoder layer, per micro-batch, on one tensor-parallel rank.

Conventions (Megatron's, so that MFU matches its reports):
- a multiply-accumulate is 2 FLOPs; causal attention is counted over the full s x s scores;
- backward of a GEMM is two GEMMs of the forward's size (input gradient and weight gradient);
- backward of attention is twice its forward; elementwise backward moves twice the bytes;
- bytes are HBM traffic: operands read plus results written, at the activation precision.
Biases, positional embeddings and tiny TP reductions in the loss are left out (< 0.1 %).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

from ..config import ModelConfig, TrainingConfig
from ..config.schema import BLOCK_SCALE_BYTES
from ..config.frameworks import FRAMEWORKS

ACT_BYTES = {"bf16": 2, "fp16": 2, "fp8": 2, "tf32": 4}  # activations stay 16-bit under fp8 GEMMs


@dataclass(frozen=True)
class Op:
    """One kernel, priced by the roofline by its kind: 'matmul' (at the training precision),
    'matmul16' (a GEMM kept 16-bit under fp8), 'attention' (the unfused core's batched GEMMs),
    'flash_attention' (a fused kernel; 'flash_attention_fp8' on fp8 Q, K, V), 'elementwise' or 'cast'
    (memory-bound)."""

    name: str
    kind: str
    flops: float
    bytes: float
    shape: tuple[float, float, float] | None = None   # GEMMs: (m, k, n) of [m x k] @ [k x n] (a weight
    # gradient's m is the weight's rows, its k the tokens); an fp8 cast: (rows, columns
    # cast, the GEMM's other size); a fused attention kernel: (queries, keys each query attends to, head size)
    dispatch: float = 1.0   # its share of one host dispatch (the kernel floor): a chunk of a GEMM that
    # the library splits and launches itself (TP overlap) costs 1 / chunks of it


ATTENTION_KINDS = ("attention", "flash_attention", "flash_attention_fp8")


# Bytes per element of a cast: read 16-bit, write fp8 row-wise and a transposed fp8 copy (Hopper);
# tensorwise (current) scaling reads the tensor once more for its amax first. A block-scaled cast
# ('block_cast') takes each block's amax in the same pass and writes both copies with their
# scales on every chip: the column-wise copy is quantized by its own blocks.
FP8_CAST_BYTES = {"delayed": 4, "tensorwise": 6,
                  **{recipe: 2 + 2 * (1 + s) for recipe, s in BLOCK_SCALE_BYTES.items()}}
CAST_KINDS = ("cast", "block_cast")
SIXTEEN_BIT_GEMMS = ("router", "lm_head")   # not Transformer Engine layers: 16-bit under fp8 too


def _fp8(ops: tuple[Op, ...], x: "Shape") -> tuple[Op, ...]:
    """A block as fp8 training runs it (Transformer Engine): each linear layer's GEMM reads fp8
    operands after a cast of its 16-bit input (a row-wise and a transposed copy; delayed scaling
    takes the amax in the same pass, tensorwise scaling in a pass of its own, block scaling
    per block in the same pass); its backward casts the output gradient likewise.
    Weights are cast once per step (cached over micro-batches; left out). The router and the LM
    head stay 16-bit. A cast op's shape starts with the rows and columns it casts (m x k forward,
    m x n for the output gradient): a chip whose fp8 GEMMs read either layout (Blackwell) writes
    no transposed copy (hardware.compute)."""
    if not x.fp8:
        return ops
    out = []
    for op in ops:
        if op.kind != "matmul":
            out.append(op)
        elif op.name in SIXTEEN_BIT_GEMMS:
            out.append(dataclasses.replace(op, kind="matmul16"))
        else:
            m, k, n = op.shape
            kind = "block_cast" if x.fp8 in BLOCK_SCALE_BYTES else "cast"
            out.append(Op(op.name + ".fp8_cast", kind, 0.0, FP8_CAST_BYTES[x.fp8] * m * k, op.shape))
            out.append(dataclasses.replace(op, bytes=k * n + m * k + x.e * m * n))   # fp8 operands
    return tuple(out)


@dataclass(frozen=True)
class Shape:
    """Per-rank sizes of one micro-batch: b, s, h, heads and widths already divided by TP."""

    b: int
    s: int
    h: int
    heads: int        # query heads on this rank
    kv_heads: int     # key/value heads on this rank
    head_dim: int
    ffn: int          # MLP width on this rank
    gates: int        # 2 for a gated (SwiGLU) MLP's first projection, else 1
    vocab: int        # vocabulary shard on this rank
    e: int            # bytes per activation element
    flash: bool
    seq_shards: int = 1  # sequence parallelism: norms, dropout and residuals see s / t tokens
    kv_len: int = 0      # keys each query attends to: the whole sequence under context parallelism
    mla: tuple[int, int, int, int, int] | None = None   # q_lora, kv_lora, qk_nope, qk_rope, v sizes (whole)
    fp8: str | None = None   # linear layers' GEMMs in fp8 (Transformer Engine): the scaling recipe
    qk_norm: bool = False  # queries and keys normed before attention (Qwen3, Gemma 3, OLMo 2)
    fp8_attention: bool = False   # the fused attention kernel on fp8 Q, K, V
    fused_softmax: bool = True    # unfused attention: softmax in one fused kernel (else PyTorch's chain)

    @classmethod
    def of(cls, model: ModelConfig, training: TrainingConfig, tp: int, padded_vocab: int,
           sequence_parallel: bool = False, cp: int = 1) -> "Shape":
        """Sizes on one rank; `cp` context-parallel ranks hold s / cp tokens each."""
        e = ACT_BYTES[training.precision]
        fused_softmax = FRAMEWORKS[training.framework].fused_softmax(
            training.micro_batch_size, model.num_attention_heads // tp, training.seq_length // cp,
            training.seq_length, e)
        return cls(b=training.micro_batch_size, s=training.seq_length // cp, h=model.hidden_size,
                   heads=model.num_attention_heads // tp, kv_heads=model.kv_heads // tp,
                   head_dim=model.head_size, ffn=model.ffn_size // tp, gates=2 if model.gated_mlp else 1,
                   vocab=padded_vocab // tp, e=e, flash=training.use_flash_attn,
                   seq_shards=tp if sequence_parallel else 1, kv_len=training.seq_length,
                   mla=(model.q_lora_rank or 0, model.kv_lora_rank, model.qk_nope_head_dim, model.qk_rope_head_dim,
                        model.v_head_dim) if model.mla else None, qk_norm=model.qk_norm != "none",
                   fp8=training.fp8_recipe if training.precision == "fp8" else None,
                   fp8_attention=training.fp8_attention, fused_softmax=fused_softmax)

    @property
    def tokens(self) -> int:
        return self.b * self.s

    @property
    def local_tokens(self) -> float:
        """Tokens of the sequence-parallel shard (all tokens without sequence parallelism)."""
        return self.b * self.s / self.seq_shards


def _gemm(name: str, tokens: int, k: int, n: int, e: int) -> Op:
    """[tokens x k] @ [k x n]."""
    return Op(name, "matmul", 2.0 * tokens * k * n, e * (k * n + tokens * k + tokens * n), (tokens, k, n))


def token_chunk(op: Op, chunks: int) -> Op:
    """One of `chunks` equal parts of a GEMM cut along its tokens (the rows of a forward or an
    input-gradient GEMM, the reduction of a weight-gradient one). The parts are launched by the
    library from one host call (Transformer Engine's userbuffers loop over the splits in C++), so
    each carries 1 / chunks of the op's host dispatch."""
    shape = op.shape
    if shape:
        at = 1 if op.name.endswith(".wgrad") else 0
        shape = tuple(x / chunks if i == at else x for i, x in enumerate(shape))
    return dataclasses.replace(op, flops=op.flops / chunks, bytes=op.bytes / chunks, shape=shape,
                               dispatch=op.dispatch / chunks)


def sixteen_bit(gemm: Op) -> Op:
    """An fp8 GEMM as it would run with 16-bit operands (what fp8 is compared with)."""
    return _gemm(gemm.name, *gemm.shape, 2)


def _elementwise(name: str, nbytes: float) -> Op:
    return Op(name, "elementwise", 0.0, nbytes)


def attention_block(x: Shape) -> tuple[Op, ...]:
    """Norm, QKV projection, attention core, output projection, residual."""
    T, e = x.tokens, x.e
    if x.mla:
        return _fp8(_latent_attention_block(x), x)
    q = x.heads * x.head_dim
    kv = x.kv_heads * x.head_dim
    core_flops = 4.0 * x.b * x.s * x.kv_len * q
    io = e * T * (q + 2 * kv + q)  # read Q, K, V; write the context
    ops = [
        _elementwise("input_norm", 2 * e * x.local_tokens * x.h),
        _gemm("qkv_proj", T, x.h, q + 2 * kv, e),
    ]
    if x.qk_norm:
        ops.append(_elementwise("qk_norm", 2 * e * T * (q + kv)))
    return _fp8(tuple(ops + _core(x, core_flops, io) + [_gemm("out_proj", T, q, x.h, e),
                                                       _elementwise("attention_residual", 3 * e * x.local_tokens * x.h)]), x)


def _latent_attention_block(x: Shape) -> tuple[Op, ...]:
    """Multi-head latent attention (DeepSeek-V2/V3): queries and keys/values each projected down
    to a small latent (whole on every TP rank, as Megatron duplicates them), normed, and up to the
    heads (split over TP); keys share one rotary part across heads; values are v-sized."""
    T, e = x.tokens, x.e
    q_lora, kv_lora, nope, rope, v = x.mla
    qk = nope + rope
    ops = [_elementwise("input_norm", 2 * e * x.local_tokens * x.h)]
    if q_lora:
        ops += [_gemm("q_down_proj", T, x.h, q_lora, e), _elementwise("q_norm", 2 * e * T * q_lora),
                _gemm("q_up_proj", T, q_lora, x.heads * qk, e)]
    else:
        ops.append(_gemm("q_proj", T, x.h, x.heads * qk, e))
    ops += [_gemm("kv_down_proj", T, x.h, kv_lora + rope, e), _elementwise("kv_norm", 2 * e * T * kv_lora),
            _gemm("kv_up_proj", T, kv_lora, x.heads * (nope + v), e)]
    core_flops = 2.0 * x.b * x.s * x.kv_len * x.heads * (qk + v)   # scores over qk, context over v
    io = e * T * x.heads * (qk + qk + v + v)                       # read Q, K, V; write the context
    return tuple(ops + _core(x, core_flops, io) + [_gemm("out_proj", T, x.heads * v, x.h, e),
                                                  _elementwise("attention_residual", 3 * e * x.local_tokens * x.h)])


def _core(x: Shape, core_flops: float, io: float) -> list[Op]:
    """The attention core: fused (flash), or scores written out with softmax and dropout."""
    e = x.e
    ops = []
    if x.flash:
        kind = "flash_attention_fp8" if x.fp8_attention else "flash_attention"
        ops.append(Op("attention_core", kind, core_flops, io, (x.tokens, min(x.s, x.kv_len), x.head_dim)))
    else:
        scores = x.b * x.heads * x.s * x.kv_len
        ops.append(Op("attention_core", "attention", core_flops, io + 2 * e * scores))
        if x.fused_softmax:
            # softmax (read, write) + dropout (read, write, 1-byte mask) over the s x s scores
            ops.append(_elementwise("attention_softmax_dropout", (4 * e + 1) * scores))
        else:   # PyTorch's path, a kernel each: to fp32, scale, mask, softmax, back to 16 bits; dropout
            ops += [_elementwise("attention_softmax_upcast", (e + 4) * scores),
                    _elementwise("attention_softmax_scale", 8 * scores),
                    _elementwise("attention_softmax_mask", 8 * scores),
                    _elementwise("attention_softmax", 8 * scores),
                    _elementwise("attention_softmax_downcast", (4 + e) * scores),
                    _elementwise("attention_softmax_dropout", (2 * e + 1) * scores)]
    return ops


def mlp_block(x: Shape) -> tuple[Op, ...]:
    """Norm, up (and gate) projection, activation, down projection, residual."""
    T, e = x.tokens, x.e
    return _fp8((
        _elementwise("post_attention_norm", 2 * e * x.local_tokens * x.h),
        _gemm("mlp_up", T, x.h, x.gates * x.ffn, e),
        _elementwise("mlp_activation", e * T * x.ffn * (x.gates + 1)),
        _gemm("mlp_down", T, x.ffn, x.h, e),
        _elementwise("mlp_residual", 3 * e * x.local_tokens * x.h),
    ), x)


def moe_blocks(x: Shape, model: ModelConfig, ep: int, imbalance: float) -> tuple[tuple[Op, ...], tuple[Op, ...], float]:
    """An MoE layer's MLP part on one rank: (router + shared experts, routed experts, bytes one
    rank sends in each all-to-all). Tokens are those of the rank's sequence shard; each goes to
    k experts; experts are split over the ep ranks and not over TP; `imbalance` (max/mean load)
    stretches the busiest rank's expert work and traffic, which sets the pace."""
    e, T = x.e, x.local_tokens
    k = model.num_experts_per_tok
    routed = T * k * imbalance                     # token-expert pairs the busiest rank computes
    f = model.expert_size
    pre = [_elementwise("post_attention_norm", 2 * e * T * x.h),
           _gemm("router", T, x.h, model.num_experts, e)]
    shared = model.shared_expert_size
    if shared:
        pre += [_gemm("shared_up", T, x.h, x.gates * shared, e),
                _elementwise("shared_activation", e * T * shared * (x.gates + 1)),
                _gemm("shared_down", T, shared, x.h, e)]
    experts = (
        _gemm("experts_up", routed, x.h, x.gates * f, e),
        _elementwise("experts_activation", e * routed * f * (x.gates + 1)),
        _gemm("experts_down", routed, f, x.h, e),
        _elementwise("moe_combine_residual", e * T * x.h * (k + 2)),
    )
    return _fp8(tuple(pre), x), _fp8(experts, x), e * routed * x.h


def expert_load_imbalance(num_experts: int, ep: int, concentration: float | None, seed: int,
                          draws: int = 256) -> float:
    """Expected (max rank load / mean rank load) when per-expert token shares follow a symmetric
    Dirichlet(concentration) and the experts are split evenly over ep ranks; 1 when balanced."""
    if concentration is None or ep < 2:
        return 1.0
    import numpy as np
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x6D6F65]))  # the "moe" stream
    shares = rng.dirichlet([concentration] * num_experts, size=draws)
    per_rank = shares.reshape(draws, ep, num_experts // ep).sum(axis=2)
    return float((per_rank.max(axis=1) * ep).mean())


def embedding_block(x: Shape) -> tuple[Op, ...]:
    return (_elementwise("embedding_lookup", 2 * x.e * x.tokens * x.h),)


def mtp_block(x: Shape, tp: int) -> tuple[Op, ...]:
    """Entry of a multi-token prediction depth (DeepSeek-V3, Megatron's MTP): the next token's
    embedding looked up, it and the previous depth's hidden state normed, concatenated and
    projected from 2h to h (column-parallel over TP)."""
    return _fp8((_elementwise("mtp_embedding_lookup", 2 * x.e * x.tokens * x.h),
                 _elementwise("mtp_norms", 2 * 2 * x.e * x.local_tokens * x.h),
                 _gemm("mtp_projection", x.tokens, 2 * x.h, x.h // tp, x.e)), x)


MTP_EXTRA_NORMS = 3   # per depth: the hidden-state norm, the embedding norm, the shared head's norm


def head_block(x: Shape) -> tuple[Op, ...]:
    """Final norm, LM head GEMM over the vocabulary shard, fp32 cross-entropy."""
    T = x.tokens
    return _fp8((
        _elementwise("final_norm", 2 * x.e * x.local_tokens * x.h),
        _gemm("lm_head", T, x.h, x.vocab, x.e),
        _elementwise("cross_entropy", 3 * 4 * T * x.vocab),
    ), x)


def backward(ops: tuple[Op, ...], part: str = "both") -> tuple[Op, ...]:
    """The backward kernels of a forward block, in reverse order: the input-gradient path
    (part="input": GEMM dgrad, attention and elementwise backward), the weight gradients
    (part="weight": GEMM wgrad), or both interleaved as frameworks run them."""
    out: list[Op] = []
    for op in reversed(ops):
        if op.kind in ("matmul", "matmul16"):
            m, k, n = op.shape if op.shape else (None, None, None)
            if part in ("both", "input"):   # [m x n] @ [n x k]
                out.append(Op(op.name + ".dgrad", op.kind, op.flops, op.bytes, op.shape and (m, n, k)))
            if part in ("both", "weight"):  # [k x m] @ [m x n]: the tokens are the reduction
                out.append(Op(op.name + ".wgrad", op.kind, op.flops, op.bytes, op.shape and (k, m, n)))
        elif part != "weight":
            if op.kind in CAST_KINDS:   # the output gradient, cast for the dgrad and wgrad GEMMs
                m, k, n = op.shape
                out.append(Op(op.name + ".bwd", op.kind, 0.0, op.bytes * n / k, (m, n, k)))   # same bytes per element
            elif op.kind in ATTENTION_KINDS:
                out.append(Op(op.name + ".bwd", op.kind, 2 * op.flops, 2 * op.bytes, op.shape))
            else:
                out.append(Op(op.name + ".bwd", "elementwise", 0.0, 2 * op.bytes))
    return tuple(out)


def model_flops(ops: tuple[Op, ...]) -> float:
    """Forward + backward FLOPs of a forward block, without recompute (the MFU numerator)."""
    return 3.0 * sum(op.flops for op in ops)


def rank_layer_params(model: ModelConfig, tp: int, layer: int = 0, ep: int = 1) -> float:
    """Weights of one layer on one rank: attention and dense MLP split over TP, the two norms
    replicated; an MoE layer's routed experts split over EP (not TP), its router and shared
    experts split over TP."""
    whole = model.replicated_layer_params
    dense, experts = layer_param_table(model)[layer]
    return (dense - whole) / tp + whole + experts / ep


@functools.lru_cache(maxsize=64)
def layer_param_table(model: ModelConfig) -> tuple[tuple[float, float], ...]:
    """(everything but the routed experts, the routed experts) of every layer, whole model
    (asked for layer by layer by every stage of every plan a search tries)."""
    return tuple(layer_params(model, layer, split=True) for layer in range(model.all_layers))


def layer_params(model: ModelConfig, layer: int = 0, split: bool = False):
    """Weights of one decoder layer (attention, MLP or MoE, two norms), whole model. With
    split=True: (everything but the routed experts, the routed experts)."""
    h, d = model.hidden_size, model.head_size
    q, kv = model.num_attention_heads * d, model.kv_heads * d
    gates = 2 if model.gated_mlp else 1
    if model.mla:   # down-projections (and their norms) are in replicated_layer_params
        heads, v = model.num_attention_heads, model.v_head_dim
        q_up = model.q_lora_rank * q if model.q_lora_rank else h * q
        kv_up = model.kv_lora_rank * heads * (model.qk_nope_head_dim + v)
        attention = model.replicated_layer_params + q_up + kv_up + heads * v * h
    else:
        attention = h * (q + 2 * kv) + q * h + model.norms_per_layer * h + model.qk_norm_params
    if model.is_moe_layer(layer):
        mlp = h * model.num_experts + (gates + 1) * h * model.shared_expert_size
        experts = model.num_experts * (gates + 1) * h * model.expert_size
    else:
        mlp, experts = (gates + 1) * h * model.ffn_size, 0
    if model.is_mtp(layer):   # its projection and norms; embedding and head are the model's, shared
        attention += 2 * h * h + MTP_EXTRA_NORMS * h
    return (attention + mlp, experts) if split else attention + mlp + experts
