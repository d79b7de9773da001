import copy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


def small_gpt(**over) -> dict:
    """A small GPT scenario as a mapping; keyword arguments update sections shallowly."""
    sc = {
        "name": "small-gpt",
        "model": {"hidden_size": 1024, "num_hidden_layers": 8, "num_attention_heads": 16,
                  "vocab_size": 32000, "tie_word_embeddings": False},
        "training": {"micro_batch_size": 2, "global_batch_size": 32, "seq_length": 1024},
        "parallelism": {"tensor_model_parallel_size": 2, "pipeline_model_parallel_size": 2},
        "system": {"accelerator": "A100-80GB", "num_nodes": 2, "gpus_per_node": 4,
                   "topology": {"nic_bandwidth": "200 Gb/s"}},
    }
    sc = copy.deepcopy(sc)
    for section, values in over.items():
        if isinstance(values, dict) and isinstance(sc.get(section), dict):
            sc[section].update(values)
        else:
            sc[section] = values
    return sc


@pytest.fixture
def small():
    return small_gpt
