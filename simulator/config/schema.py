"""The scenario: what a user writes, as frozen dataclasses with their loading rules.

Names follow the ecosystem verbatim: Hugging Face `config.json` for the model, Megatron-LM
arguments for training and parallelism, DeepSpeed's `zero_stage`. Quantities are SI inside.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError
from .frameworks import FRAMEWORK_NAMES
from .reliability import ReliabilityConfig
from .strict import option

# Upper bounds on counts, far above any model or cluster built (so that no value makes the
# simulator exhaust memory or time building per-layer, per-micro-batch or per-switch structures):
LAYERS = 10_000            # layers, and layer-indexed counts
COUNT = 65_536             # heads, experts, switches of one tier, micro-batch size
WIDTH = 16_777_216         # widths, vocabulary, tokens per sequence, sequences per batch (2^24)
RANKS = 1_048_576          # parallel degrees and servers (2^20)
PER_SERVER = 1_024         # accelerators or NICs in one server
MAX_GPUS = 4_194_304       # accelerators in one system (2^22; 32 times the largest cluster built)

PRECISIONS = ("bf16", "fp16", "tf32", "fp8")
WEIGHT_BYTES = {"bf16": 2, "fp16": 2, "fp8": 2, "tf32": 4}   # bytes per weight, by training precision
# Megatron's --fp8-recipe. Per-tensor scaling: delayed (from past amax values) or tensorwise
# (current). Block scaling (Transformer Engine's MXFP8BlockScaling and Float8BlockScaling): a
# scale per block of a row (the row-wise copy) or of a column (the column-wise copy), so the two
# copies a GEMM's forward and backward read are quantized apart, each from the 16-bit tensor; the
# value is the scale bytes per element of a one-dimensional block (E8M0 per 32 elements; fp32 per
# 128). Transformer Engine docs, Low precision training: MXFP8 and FP8 Blockwise Scaling,
# "Handling transposes" and "Data Format".
FP8_RECIPES = ("delayed", "tensorwise", "mxfp8", "blockwise")
BLOCK_SCALE_BYTES = {"mxfp8": 1 / 32, "blockwise": 4 / 128}
PER_TENSOR_RECIPES = tuple(r for r in FP8_RECIPES if r not in BLOCK_SCALE_BYTES)
ACTIVATIONS = ("gelu", "gelu_new", "gelu_fast", "gelu_pytorch_tanh", "quick_gelu", "relu", "silu", "swish",
               "swiglu")
GATED_ACTIVATIONS = ("silu", "swish", "swiglu")  # Llama-family configs name the gated MLP by its activation


LAYER_TYPES = ("dense", "conv2d", "norm", "activation", "pool", "flatten")


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a generic sequential model (a Keras Sequential, say)."""

    type: str = option(choices=LAYER_TYPES, doc="What the layer is.")
    units: int | None = option(None, minimum=1, maximum=WIDTH, doc="dense: output features (of the last dimension).")
    filters: int | None = option(None, minimum=1, maximum=WIDTH, doc="conv2d: output channels ('same' padding).")
    kernel_size: int = option(3, minimum=1, maximum=COUNT, doc="conv2d: square kernel side.")
    stride: int = option(1, minimum=1, maximum=COUNT, doc="conv2d: stride.")
    pool_size: int = option(2, minimum=1, maximum=COUNT, doc="pool: window side (and stride).")
    activation: str | None = option(None, doc="dense/conv2d: an activation applied after (one elementwise pass).")

    def check(self, path: str) -> None:
        if self.type == "dense" and self.units is None:
            raise ConfigError(f"{path}.units", None, "the output features of a dense layer")
        if self.type == "conv2d" and self.filters is None:
            raise ConfigError(f"{path}.filters", None, "the output channels of a conv2d layer")


@dataclass(frozen=True)
class ModelConfig:
    """A decoder-only transformer, described by its Hugging Face config.json fields, or a generic
    sequential stack of layers (`input_shape` and `layers`)."""

    hidden_size: int | None = option(None, minimum=1, maximum=WIDTH, doc="Model width h.")
    num_hidden_layers: int | None = option(None, minimum=1, maximum=LAYERS, doc="Number of transformer layers L.")
    num_attention_heads: int | None = option(None, minimum=1, maximum=COUNT, doc="Query heads a.")
    vocab_size: int | None = option(None, minimum=1, maximum=WIDTH, doc="Vocabulary size V (padded as Megatron does: to a "
                                                         "multiple of 128 x TP).")
    input_shape: tuple[int, ...] | None = option(None, minimum=1, maximum=WIDTH, doc="Sequential model: one sample's shape, "
                                                                      "[features] or [height, width, channels].")
    layers: tuple[LayerSpec, ...] | None = option(None, doc="Sequential model: its layers, in order.")
    num_key_value_heads: int | None = option(None, minimum=1, maximum=COUNT, doc="Key/value heads (GQA); default: num_attention_heads.")
    intermediate_size: int | None = option(None, minimum=1, maximum=WIDTH, doc="MLP hidden size; default 4 x hidden_size.")
    head_dim: int | None = option(None, minimum=1, maximum=COUNT, doc="Per-head size; default hidden_size / num_attention_heads.")
    hidden_act: str = option("gelu", choices=ACTIVATIONS,
                             doc="MLP activation; 'silu'/'swiglu' mean a gated MLP (three weight matrices).")
    tie_word_embeddings: bool = option(True, doc="Input embedding and LM head share weights.")
    max_position_embeddings: int | None = option(None, minimum=1, maximum=2**31, doc="Informational; not used for cost.")
    num_experts: int | None = option(None, minimum=1, maximum=COUNT, doc="Routed experts per MoE layer (Mixtral "
                                     "num_local_experts, DeepSeek n_routed_experts); unset: dense model.")
    num_experts_per_tok: int = option(2, minimum=1, maximum=COUNT, doc="Experts each token is routed to (top-k).")
    moe_intermediate_size: int | None = option(None, minimum=1, maximum=WIDTH, doc="Width of one expert; default intermediate_size.")
    shared_expert_intermediate_size: int | None = option(None, minimum=1, maximum=WIDTH, doc="Total width of the shared experts "
                                                         "every token passes (Qwen-MoE).")
    n_shared_experts: int | None = option(None, minimum=0, maximum=COUNT, doc="DeepSeek: shared experts of moe_intermediate_size each.")
    first_k_dense_replace: int = option(0, minimum=0, maximum=LAYERS, doc="DeepSeek: the first k layers keep a dense MLP.")
    moe_layer_freq: int = option(1, minimum=1, maximum=LAYERS, doc="Every n-th layer after the dense ones is an MoE layer.")
    q_lora_rank: int | None = option(None, minimum=1, maximum=WIDTH, doc="Multi-head latent attention (DeepSeek): "
                                     "rank of the query down-projection; unset: queries projected directly.")
    kv_lora_rank: int | None = option(None, minimum=1, maximum=WIDTH, doc="Multi-head latent attention: rank of the "
                                      "compressed key/value latent; set: the model uses MLA.")
    qk_nope_head_dim: int | None = option(None, minimum=1, maximum=COUNT, doc="MLA: per-head query/key size without "
                                          "rotary position.")
    qk_rope_head_dim: int | None = option(None, minimum=0, maximum=COUNT, doc="MLA: per-head query/key size with "
                                          "rotary position (the key part is shared by all heads).")
    v_head_dim: int | None = option(None, minimum=1, maximum=COUNT, doc="MLA: per-head value size.")
    sliding_window: int | None = option(None, minimum=1, maximum=WIDTH, doc="Keys each query of a sliding-window "
                                        "layer attends to (Mistral, Gemma 2/3, GPT-OSS); unset: every layer attends "
                                        "to the whole sequence.")
    layer_types: tuple[str, ...] | None = option(None, doc="Per layer, 'sliding_attention' or 'full_attention' "
                                                 "(Hugging Face's name); unset with sliding_window: every layer slides.")
    mlp_gated: bool | None = option(None, doc="A gated MLP (SwiGLU, GeGLU: three weight matrices); default: "
                                              "from hidden_act (silu/swish/swiglu gated), or the family's rule.")
    mtp_layers: int = option(0, minimum=0, maximum=16, doc="Multi-token prediction depth (DeepSeek-V3 "
                             "num_nextn_predict_layers, Megatron --mtp-num-layers): each depth adds, on the last "
                             "pipeline stage, a projection of [hidden; next token's embedding], one decoder layer "
                             "(MoE where the layer pattern continued has one) and a pass through the shared LM head and loss.")
    qk_norm: str = option("none", choices=("none", "per_head", "whole"), doc="Norms of queries and keys before "
                          "attention: 'per_head' (one head_dim-wide weight each for Q and K: Qwen3, Gemma 3), "
                          "'whole' (over all heads: OLMo 2), or none.")
    norms_per_layer: int = option(2, minimum=0, maximum=16, doc="Norms per layer (their weights count as parameters; "
                                                                "Gemma 2 and 3 have 4).")
    unmodelled: tuple[str, ...] = option((), doc="What the Hugging Face config says that changes the cost but is "
                                                 "not modelled; filled by the loader, shown as warnings.")
    model_type: str = option("gpt", doc="The Hugging Face family (e.g. 'gpt2', 'llama'); sets the family's defaults "
                                        "when read from hf_config.")
    name: str = option("model", doc="A label for reports.")

    @property
    def kv_heads(self) -> int:
        return self.num_key_value_heads or self.num_attention_heads

    @property
    def ffn_size(self) -> int:
        return self.intermediate_size or 4 * self.hidden_size

    @property
    def head_size(self) -> int:
        """Per-head query/key size (MLA: with and without rotary position)."""
        if self.mla:
            return self.qk_nope_head_dim + self.qk_rope_head_dim
        return self.head_dim or self.hidden_size // self.num_attention_heads

    @property
    def mla(self) -> bool:
        return self.kv_lora_rank is not None

    @property
    def replicated_layer_params(self) -> int:
        """Weights of a layer that every tensor-parallel rank holds whole: the norms, and MLA's
        down-projections with their norms (Megatron duplicates them)."""
        h, n = self.hidden_size, self.norms_per_layer * self.hidden_size
        if self.qk_norm == "per_head":   # every rank normalizes its heads with the same two weights
            n += self.qk_norm_params
        if not self.mla:
            return n
        q = (h * self.q_lora_rank + self.q_lora_rank) if self.q_lora_rank else 0
        return n + q + h * (self.kv_lora_rank + self.qk_rope_head_dim) + self.kv_lora_rank

    @property
    def qk_norm_params(self) -> int:
        """Weights of a layer's query and key norms."""
        if self.qk_norm == "per_head":
            return 2 * self.head_size
        return (self.num_attention_heads + self.kv_heads) * self.head_size if self.qk_norm == "whole" else 0

    @property
    def final_norm_params(self) -> int:
        """The norm after the last layer: weighted like the layers' norms (none where they have no weights)."""
        return self.hidden_size if self.norms_per_layer else 0

    @property
    def gated_mlp(self) -> bool:
        return self.mlp_gated if self.mlp_gated is not None else self.hidden_act in GATED_ACTIVATIONS

    @property
    def expert_size(self) -> int:
        return self.moe_intermediate_size or self.ffn_size

    @property
    def shared_expert_size(self) -> int:
        if self.shared_expert_intermediate_size:
            return self.shared_expert_intermediate_size
        return (self.n_shared_experts or 0) * self.expert_size

    @property
    def all_layers(self) -> int:
        """Decoder layers the step runs: the model's, then one per multi-token prediction depth."""
        return self.num_hidden_layers + self.mtp_layers

    def is_mtp(self, layer: int) -> bool:
        return layer >= self.num_hidden_layers

    def is_sliding(self, layer: int) -> bool:
        """Multi-token prediction layers attend to every key (DeepSeek-V3's do)."""
        return bool(self.sliding_window) and not self.is_mtp(layer) and (
            self.layer_types is None or "sliding" in self.layer_types[layer])

    def is_moe_layer(self, layer: int) -> bool:
        return bool(self.num_experts) and layer >= self.first_k_dense_replace and \
            (layer - self.first_k_dense_replace) % self.moe_layer_freq == 0

    def check(self, path: str) -> None:
        if self.layers is not None:
            if not self.layers:
                raise ConfigError(f"{path}.layers", [], "at least one layer")
            if not self.input_shape or len(self.input_shape) not in (1, 3):
                raise ConfigError(f"{path}.input_shape", self.input_shape,
                                  "[features] or [height, width, channels]")
            return
        for name in ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size"):
            if getattr(self, name) is None:
                raise ConfigError(f"{path}.{name}", reason="required key is missing",
                                  accepted="an integer (or give `layers` and `input_shape` for a sequential model)")
        if self.head_dim is None and self.hidden_size % self.num_attention_heads:
            raise ConfigError(f"{path}.num_attention_heads", self.num_attention_heads,
                              f"a divisor of hidden_size={self.hidden_size} (or give head_dim)")
        if self.mla and (self.qk_nope_head_dim is None or self.qk_rope_head_dim is None or self.v_head_dim is None):
            raise ConfigError(f"{path}.kv_lora_rank", self.kv_lora_rank, reason="multi-head latent attention needs "
                              "qk_nope_head_dim, qk_rope_head_dim and v_head_dim too",
                              accepted="all four, as in DeepSeek's config.json")
        if self.layer_types is not None and len(self.layer_types) != self.num_hidden_layers:
            raise ConfigError(f"{path}.layer_types", f"{len(self.layer_types)} entries",
                              f"one entry per layer (num_hidden_layers = {self.num_hidden_layers})")
        if self.num_experts and self.num_experts_per_tok > self.num_experts:
            raise ConfigError(f"{path}.num_experts_per_tok", self.num_experts_per_tok,
                              f"at most num_experts={self.num_experts}")
        if self.num_attention_heads % self.kv_heads:
            raise ConfigError(f"{path}.num_key_value_heads", self.num_key_value_heads,
                              f"a divisor of num_attention_heads={self.num_attention_heads}")


@dataclass(frozen=True)
class TrainingConfig:
    """One optimizer step: batch shape, numerics and activation recompute (Megatron names)."""

    micro_batch_size: int = option(minimum=1, maximum=COUNT, doc="Sequences per micro-batch per data-parallel rank.")
    global_batch_size: int = option(minimum=1, maximum=WIDTH, doc="Sequences per optimizer step, all replicas together.")
    seq_length: int | None = option(None, minimum=1, maximum=WIDTH, doc="Tokens per sequence (transformers; required there).")
    precision: str = option("bf16", choices=PRECISIONS, doc="Math precision of matmuls and activations.")
    recompute_granularity: str = option("none", choices=("none", "selective", "full"),
                                        doc="Activation recompute: none, selective (attention core), full (whole layer).")
    use_flash_attn: bool = option(True, doc="Fused attention: no s x s score matrix in HBM.")
    framework: str = option("megatron-core", choices=FRAMEWORK_NAMES,
                            doc="The training software stack (simulator/data/frameworks.yaml): its default "
                                "gradient buckets, whether it can overlap TP communication with GEMMs, and "
                                "whether the compute constants were fitted on its runs.")
    fp8_recipe: str = option("delayed", choices=FP8_RECIPES,
                             doc="With precision fp8, how tensors are scaled (Megatron's --fp8-recipe): delayed "
                                 "(from past amax values: one read per cast), tensorwise (Transformer Engine's "
                                 "current scaling: an amax pass first, two reads per cast), or block scaling, "
                                 "where the accelerator has it (kernels.fp8_block_recipes): mxfp8 (a scale per 32 "
                                 "elements, Blackwell) or blockwise (per 128, Hopper), both copies always cast.")
    fp8_attention: bool = option(False, doc="With precision fp8 and fused attention, run the attention kernel on "
                                            "fp8 Q, K, V too (Megatron's --fp8-dot-product-attention).")
    fp8_param_gather: bool = option(False, doc="With precision fp8, keep the parameters in fp8 and all-gather them "
                                               "in fp8 under ZeRO (Megatron's --fp8-param-gather; NeMo's fp8 "
                                               "recipes turn it on): 1 byte per parameter gathered instead of 2, "
                                               "about 2.06 under block scaling (both copies; memory is still "
                                               "counted with 16-bit weights).")
    accumulate_allreduce_grads_in_fp32: bool | None = option(
        None, doc="Gradients kept and all-reduced in fp32; unset: Megatron's default, on with bf16 and fp8 "
                  "(Megatron turns it on for bf16), off with fp16 (16-bit gradients).")
    moe_routing_concentration: float | None = option(
        None, minimum=1e-6, doc="MoE load imbalance: per-expert token shares drawn from a symmetric Dirichlet "
                                "of this concentration (smaller: more skewed); unset: perfectly balanced.")

    @property
    def gradient_bytes(self) -> int:
        """Bytes per gradient element, kept and all-reduced: fp32 if accumulated in fp32 (as
        given, or Megatron's default for the precision), else the weights' own."""
        fp32 = self.accumulate_allreduce_grads_in_fp32
        if fp32 is None:
            fp32 = self.precision in ("bf16", "fp8")
        return 4 if fp32 else WEIGHT_BYTES[self.precision]

    @property
    def param_gather_bytes(self) -> float:
        """Bytes per parameter in a ZeRO parameter all-gather: fp8 parameters are one byte, or
        under block scaling both copies with their scales (Transformer Engine gathers the
        column-wise copy too: it cannot be made from the row-wise one; weights are scaled per
        128 x 128 block under blockwise, per 32 elements under mxfp8)."""
        if not self.fp8_param_gather:
            return WEIGHT_BYTES[self.precision]
        if self.fp8_recipe in PER_TENSOR_RECIPES:
            return 1
        scale = 4 / 128 ** 2 if self.fp8_recipe == "blockwise" else BLOCK_SCALE_BYTES[self.fp8_recipe]
        return 2 * (1 + scale)

    def check(self, path: str) -> None:
        if self.fp8_param_gather and self.precision != "fp8":
            raise ConfigError(f"{path}.fp8_param_gather", True, "false unless precision is fp8")
        if self.fp8_attention and (self.precision != "fp8" or not self.use_flash_attn):
            raise ConfigError(f"{path}.fp8_attention", True, "false unless precision is fp8 and use_flash_attn is "
                                                             "true (an fp8 fused attention kernel)")


@dataclass(frozen=True)
class ParallelismConfig:
    """How the job is split: Megatron sizes; data parallelism is what remains of the world."""

    tensor_model_parallel_size: int = option(1, minimum=1, maximum=RANKS, doc="TP degree t.")
    pipeline_model_parallel_size: int = option(1, minimum=1, maximum=RANKS, doc="PP degree p.")
    context_parallel_size: int = option(1, minimum=1, maximum=RANKS, doc="CP degree: each sequence split over this many ranks "
                                                          "(ring attention).")
    expert_model_parallel_size: int = option(1, minimum=1, maximum=RANKS, doc="EP degree: experts split over this many "
                                                               "data-parallel ranks (Megatron order tp-cp-ep-dp-pp).")
    virtual_pipeline_model_parallel_size: int | None = option(
        None, minimum=1, maximum=LAYERS, doc="Model chunks per pipeline stage (interleaved 1F1B); implies that schedule.")
    pipeline_schedule: str = option("1f1b", choices=("1f1b", "gpipe", "interleaved_1f1b", "zero_bubble_h1"),
                                    doc="Order of forward/backward passes; see docs/scenarios.md.")
    sequence_parallel: bool = option(False, doc="Megatron sequence parallelism: norms and dropout split over "
                                                "TP ranks; all-gather/reduce-scatter replace all-reduce.")
    zero_stage: int = option(0, choices=(0, 1, 2, 3),
                             doc="0: all-reduce gradients, replicate optimizer; 1: shard optimizer states "
                                 "(Megatron distributed optimizer); 2: also shard gradients; 3: also shard "
                                 "parameters, gathered layer by layer (DeepSpeed ZeRO-3, PyTorch FSDP).")
    tp_comm_overlap: bool = option(False, doc="Pipeline each TP all-gather and reduce-scatter with the GEMM next "
                                              "to it, chunk by chunk (Megatron --tp-comm-overlap; needs "
                                              "sequence_parallel).")
    overlap_grad_reduce: bool = option(False, doc="Reduce gradient buckets during the last backward pass "
                                                  "(Megatron --overlap-grad-reduce).")
    overlap_param_gather: bool = option(False, doc="Distributed optimizer: gather updated parameters per bucket "
                                                   "while the next forward runs (Megatron --overlap-param-gather).")
    ddp_bucket_size: int | None = option(None, minimum=1, maximum=2**40, doc="Parameters per gradient bucket; default "
                                                              "max(40M, 1M x data-parallel size) as Megatron.")
    data_parallel_size: int | None = option(None, minimum=1, maximum=RANKS,
                                            doc="Optional check: must equal world / (t x p) when given.")


@dataclass(frozen=True)
class TopologyConfig:
    """The cluster network: a builder and its parameters, or a saved topology file."""

    builder: str = option("rail_optimized_fat_tree",
                          choices=("rail_optimized_fat_tree", "three_tier_clos", "torus", "dragonfly"),
                          doc="How to wire the servers; see the builder table.")
    file: str | None = option(None, doc="A topology file (.json node-link, .graphml, or ASTRA-sim .yaml); "
                                        "overrides builder.")
    nics_per_node: int | None = option(None, minimum=1, maximum=PER_SERVER, doc="Rails; default gpus_per_node (one NIC per GPU).")
    nic_bandwidth: float = option(400e9 / 8, unit="bandwidth", minimum=1.0, doc="Per NIC, per direction; default 400 Gb/s.")
    nodes_per_leaf: int = option(32, minimum=1, maximum=COUNT, doc="Nodes under one leaf switch per rail (a scalable unit).")
    spines: int = option(8, minimum=1, maximum=COUNT, doc="Spine switches; leaf uplink bandwidth is spread evenly over them.")
    oversubscription: float = option(1.0, minimum=1.0, doc="Leaf downlink : uplink bandwidth ratio.")
    scale_up_bandwidth: float | None = option(None, unit="bandwidth", minimum=1.0,
                                              doc="GPU to NVSwitch, per direction; default from the accelerator.")
    host_link_bandwidth: float | None = option(None, unit="bandwidth", minimum=1.0,
                                               doc="GPU to NIC (PCIe), per direction; default from the accelerator.")
    rail_optimized: bool = option(True, doc="three_tier_clos: NIC r of each server to rail r's leaf (else all to one leaf).")
    nodes_per_pod: int = option(256, minimum=1, maximum=RANKS, doc="three_tier_clos: servers per pod (leaves + their spines).")
    core_switches: int = option(16, minimum=1, maximum=COUNT, doc="three_tier_clos: core switches above the pods.")
    core_oversubscription: float = option(1.0, minimum=1.0,
                                          doc="three_tier_clos: spine downlink : uplink ratio (e.g. 7).")
    torus_dims: tuple[int, ...] | None = option(None, minimum=1, maximum=COUNT,
                                                doc="torus: chips along each dimension, e.g. [4, 4, 4].")
    torus_link_bandwidth: float | None = option(None, unit="bandwidth", minimum=1.0,
                                                doc="torus: per link and direction; default the accelerator's "
                                                    "scale-up bandwidth over 2 x dimensions.")
    routers_per_group: int = option(8, minimum=1, maximum=COUNT, doc="dragonfly: fully connected routers per group.")
    nodes_per_router: int = option(4, minimum=1, maximum=COUNT, doc="dragonfly: servers per router.")
    global_bandwidth: float | None = option(None, unit="bandwidth", minimum=1.0,
                                            doc="dragonfly: each group-to-group link; default nic_bandwidth.")


@dataclass(frozen=True)
class SystemConfig:
    """The hardware: which accelerator, how many nodes, and how they are wired."""

    accelerator: str = option(doc="A catalog name (see `clustersim catalog`) or a path to an accelerator YAML file.")
    num_nodes: int = option(minimum=1, maximum=RANKS, doc="Servers in the job.")
    gpus_per_node: int = option(8, minimum=1, maximum=PER_SERVER, doc="Accelerators per server.")
    topology: TopologyConfig = option(TopologyConfig(), doc="Network; see the topology table.")
    collective_algorithms: dict[str, str] = option({}, doc="Force an algorithm per collective, e.g. "
                                                          "{all_reduce: ring}; 'auto' (default) chooses by cost.")

    def check(self, path: str) -> None:
        if self.num_nodes * self.gpus_per_node > MAX_GPUS:
            raise ConfigError(f"{path}.num_nodes", self.num_nodes,
                              f"at most {MAX_GPUS:,} GPUs in all (num_nodes x gpus_per_node; here "
                              f"{self.num_nodes:,} x {self.gpus_per_node})")
        t = self.topology
        if t.builder == "torus" and t.file is None:
            if not t.torus_dims:
                raise ConfigError(f"{path}.topology.torus_dims", None, "a list of chips per dimension, e.g. [4, 4, 4]")
            chips = 1
            for d in t.torus_dims:
                chips *= d
            if chips != self.num_nodes * self.gpus_per_node:
                raise ConfigError(f"{path}.topology.torus_dims", list(t.torus_dims),
                                  f"dimensions whose product is num_nodes x gpus_per_node = "
                                  f"{self.num_nodes * self.gpus_per_node}")
        nics = self.topology.nics_per_node
        if nics is not None and nics > self.gpus_per_node:
            raise ConfigError(f"{path}.topology.nics_per_node", nics,
                              f"at most gpus_per_node={self.gpus_per_node} (each NIC serves one or more GPUs)")


@dataclass(frozen=True)
class SimulationConfig:
    """How to simulate: exploit identical ranks (fast) or simulate every rank (reference)."""

    mode: str = option("symmetric", choices=("symmetric", "full"),
                       doc="symmetric: one rank per class of ranks that behave alike (one per stage on a regular "
                           "placement; the same time as full); full: every rank.")
    seed: int = option(0, minimum=0, maximum=2**63 - 1, doc="Seed for every random stream.")


@dataclass(frozen=True)
class OutputConfig:
    """What `clustersim run --out DIR` writes."""

    summary: bool = option(True, doc="summary.json: headline numbers and the resolved scenario.")
    tables: bool = option(True, doc="ops, flows, links, memory and stages tables as Parquet.")
    trace: bool = option(True, doc="trace.json: Chrome/Perfetto trace (microseconds).")
    report: bool = option(True, doc="report.html: one self-contained page with the prediction, plan, breakdown, "
                                    "memory, timeline and busiest links.")
    trace_gzip: bool = option(False, doc="Write trace.json.gz instead (Perfetto opens it; a tenth of the size).")
    trace_ranks: tuple[int, ...] | None = option(None, minimum=0, maximum=RANKS, doc="Only these ranks' events in "
                                                 "the trace (default: every simulated rank).")
    trace_window: tuple[float, ...] | None = option(None, unit="time", doc="Only events that overlap [start, end] "
                                                    "of the iteration, e.g. ['0 s', '2 s'].")

    def check(self, path: str) -> None:
        if self.trace_window is not None and (len(self.trace_window) != 2 or self.trace_window[0] > self.trace_window[1]):
            raise ConfigError(f"{path}.trace_window", list(self.trace_window), "[start, end] with start <= end")


@dataclass(frozen=True)
class Scenario:
    """A whole scenario file, resolved: the model config already merged from hf_config."""

    model: ModelConfig = option()
    training: TrainingConfig = option()
    system: SystemConfig = option()
    parallelism: ParallelismConfig = option(ParallelismConfig())
    simulation: SimulationConfig = option(SimulationConfig())
    output: OutputConfig = option(OutputConfig())
    reliability: ReliabilityConfig = option(ReliabilityConfig(), doc="A training campaign with failures "
                                            "(`clustersim reliability`); see `reliability`.")
    name: str = option("scenario", doc="A label for reports.")
    description: str = option("", doc="Free text.")
