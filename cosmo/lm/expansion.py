"""Knowledge expansion with COSMO-LM (paper 3.4): once a student is the champion, the daily
generation asks it instead of the teacher, in the instruction wording it was trained on.

:func:`champion_generator` resolves ``generation.model`` (auto, teacher, student) to the
:class:`~cosmo.generation.base.GeneratorModel` the generation job runs, or None for the teacher.
The champion's artifacts are downloaded once into the model cache
(``<models.cache_dir>/<lm.registered_name>/<version>-<run id>``: a version number alone names
another model in another tracking store), and each backend gets the student its way:

* transformers: the LoRA adapter merged into the base, saved once as a plain model folder;
* vllm: the base model and the adapter folder, which vLLM applies per request;
* http: the name the server knows the student by (``lm.served_model`` or the registered name).

A full fine-tune is its own folder on every backend.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from cosmo.config import Settings
from cosmo.generation.base import GeneratorModel
from cosmo.model_registry import RegisteredVersion

log = logging.getLogger(__name__)

MERGED_FOLDER = "merged"


def champion_generator(settings: Settings) -> GeneratorModel | None:
    """The COSMO-LM champion as the generator ``generation.model`` asks for; None means the
    teacher (``teacher``, or ``auto`` with no champion). ``student`` without a champion raises a
    LookupError that names the model and the tracking store."""
    from cosmo import model_registry

    choice = settings.generation.model
    if choice == "teacher":
        return None
    lm = settings.lm
    try:
        champion = model_registry.by_alias(settings, lm.registered_name, lm.alias)
    except LookupError as exc:
        if choice == "student":
            raise LookupError(f"generation.model is student, but {exc}") from None
        log.info("no COSMO-LM champion yet: the teacher generates (%s)", exc)
        return None
    return student_generator(settings, champion)


def student_generator(settings: Settings, version: RegisteredVersion) -> GeneratorModel:
    """A registered student as the generator of the configured backend."""
    from cosmo.lm.student import METADATA_FILE

    student = download_student(settings, version)
    meta = json.loads((student / METADATA_FILE).read_text())
    backend = settings.generation.backend
    full = meta["method"] == "full"
    common = {"name": version.uri, "prompt_style": "instruction"}
    if backend == "http":
        # The server holds the model; here only its tokenizer renders the prompts.
        return GeneratorModel(path=str(student), served_name=settings.lm.served_model or settings.lm.registered_name,
                              **common)
    if full:
        return GeneratorModel(path=str(student), **common)
    if backend == "vllm":
        rank = json.loads((student / "adapter_config.json").read_text())["r"]
        return GeneratorModel(path=str(_base_folder(settings, meta, student)), adapter=str(student),
                              lora_rank=int(rank), **common)
    return GeneratorModel(path=str(merged_student(settings, student)), **common)


def cache_folder(settings: Settings, version: RegisteredVersion) -> Path:
    from cosmo.models import model_cache_dir

    label = f"{version.version}-{version.run_id[:12]}" if version.run_id else version.version
    return model_cache_dir(settings) / version.name / label


def download_student(settings: Settings, version: RegisteredVersion) -> Path:
    """The student folder (adapter or weights, tokenizer, metadata) of a registered version, in the
    model cache; downloaded from MLflow the first time."""
    import mlflow

    from cosmo.lm.student import ARTIFACT_KEY, METADATA_FILE
    from cosmo.tracking import setup_mlflow

    target = cache_folder(settings, version) / ARTIFACT_KEY
    if (target / METADATA_FILE).is_file():
        return target

    def fetch(staging: Path) -> None:
        setup_mlflow(settings)
        pyfunc = Path(mlflow.artifacts.download_artifacts(artifact_uri=version.uri, dst_path=str(staging / "pyfunc")))
        found = pyfunc / "artifacts" / ARTIFACT_KEY
        if not (found / METADATA_FILE).is_file():
            raise FileNotFoundError(f"{version.uri} holds no COSMO-LM student (no artifacts/{ARTIFACT_KEY}/"
                                    f"{METADATA_FILE})")
        found.rename(staging / "student")

    log.info("downloading %s into %s (once)", version.uri, target)
    return _build_once(target, fetch, "student")


def merged_student(settings: Settings, student: Path) -> Path:
    """The LoRA student with its adapter merged into the base weights, as a transformers folder
    next to the student folder; merged the first time."""
    from cosmo.lm.student import METADATA_FILE, load_student

    target = student.parent / MERGED_FOLDER
    if (target / "config.json").is_file():
        return target
    meta = json.loads((student / METADATA_FILE).read_text())
    base = _base_folder(settings, meta, student)
    config = json.loads((base / "config.json").read_text())
    dtype = config.get("dtype") or config.get("torch_dtype")
    dtype = dtype if dtype in ("float32", "bfloat16", "float16") else "float32"

    def merge(staging: Path) -> None:
        # In the base's own dtype: the merged folder is as large as the base, not a float32 copy.
        model, tokenizer = load_student(student, settings=settings, base_model=base, dtype=dtype)
        merged = model.merge_and_unload()
        merged.save_pretrained(str(staging / "merged"))
        tokenizer.save_pretrained(str(staging / "merged"))
        (staging / "merged" / METADATA_FILE).write_text(json.dumps({**meta, "merged": True}, indent=2,
                                                                   sort_keys=True))

    log.info("merging the LoRA adapter of %s into its base, in %s (once)", student, target)
    return _build_once(target, merge, "merged")


def _base_folder(settings: Settings, meta: dict, student: Path) -> Path:
    """The base the adapter applies to: its recorded path, or the configured base where that is
    not on this machine (as load_student resolves it)."""
    from cosmo.lm.finetune import base_model_path

    recorded = Path(meta["base_model"])
    if (recorded / "config.json").is_file():
        return recorded
    base = base_model_path(settings)
    log.info("the recorded base %s of %s is not here: using %s", recorded, student, base)
    return base


def _build_once(target: Path, build: Callable[[Path], None], built: str) -> Path:
    """Build ``target`` in a temporary folder beside it and rename it into place, so a crash never
    leaves half a folder; ``build(staging)`` writes ``staging / built``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(staging)
        try:
            (staging / built).rename(target)
        except OSError:
            if not target.is_dir():  # another process got there first: take its folder
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
