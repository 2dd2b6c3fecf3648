"""The generation Ray job on local Ray: end to end, resume after a crash, the HTTP backend
against a local OpenAI-compatible server, and the vLLM configuration (its engine needs a GPU)."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from cosmo.generation.prompts import PROMPT_VERSION

DAY = dt.date(2026, 11, 23)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_local():
    import ray

    from cosmo.compute import ensure_ray

    ensure_ray(num_cpus=2)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def sampled_day(tmp_path_factory):
    """A small generated shop, ingested and sampled: the job's input."""
    from cosmo.config import Settings
    from cosmo.pipeline.runner import run_flow

    root = tmp_path_factory.mktemp("gen") / "data"
    run_flow("daily_refresh", DAY, Settings(storage={"root": str(root)}, generator={"events_per_day": 30_000}),
             params={"generate_sample_data": True}, until="sample")
    return root


def settings_for(root, **generation):
    from cosmo.config import Settings

    base = {"max_pairs_per_day": 3, "relations": ["USED_FOR_EVE", "USED_FOR_AUD"], "max_new_tokens": 16,
            "rows_per_chunk": 4}
    return Settings(storage={"root": str(root)}, generation={**base, **generation})


def test_job_generates_validates_and_reruns_as_a_no_op(ray_local, sampled_day):
    from cosmo.generation.job import run
    from cosmo.quality import validate_partition
    from cosmo.storage import Storage

    settings = settings_for(sampled_day)
    result = run(DAY, settings)
    assert result.prompts == 12 and result.generated_now == 12 and result.candidates >= 12
    storage = Storage(str(sampled_day))
    candidates = storage.read("knowledge_candidates", DAY)
    assert set(candidates.column("relation").to_pylist()) == {"USED_FOR_EVE", "USED_FOR_AUD"}
    assert set(candidates.column("behaviour").to_pylist()) == {"search_buy", "co_buy"}
    assert set(candidates.column("prompt_version").to_pylist()) == {PROMPT_VERSION}
    assert set(candidates.column("backend").to_pylist()) == {"transformers"}
    validate_partition(storage, "knowledge_candidates", DAY)
    again = run(DAY, settings)
    assert again.generated_now == 0 and again.skipped == 12
    assert storage.read("knowledge_candidates", DAY).num_rows == candidates.num_rows


def test_resume_after_a_crash_skips_finished_chunks(ray_local, sampled_day, monkeypatch, teacher_path):
    import cosmo.generation.job as job
    from cosmo.storage import Storage

    settings = settings_for(sampled_day, seed=11)  # another model key: a fresh run
    calls = {"n": 0}
    original = job.candidate_rows

    def crash_on_second_chunk(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker lost")
        return original(*args, **kwargs)

    monkeypatch.setattr(job, "candidate_rows", crash_on_second_chunk)
    with pytest.raises(RuntimeError, match="worker lost"):
        job.run(DAY, settings)
    monkeypatch.setattr(job, "candidate_rows", original)
    resumed = job.run(DAY, settings)
    assert resumed.skipped == 4 and resumed.generated_now == 8  # the first chunk (4 prompts) survived
    storage = Storage(str(sampled_day))
    assert len(storage.read("knowledge_candidates", DAY).column("prompt_id").unique()) == 12
    assert not storage.fs.exists(storage.path("_staging", "knowledge_candidates"))


@pytest.fixture(scope="module")
def llm_server(teacher_path, free_port):
    import uvicorn

    from cosmo.config import GenerationSettings
    from cosmo.serving.llm_server import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(teacher_path, GenerationSettings()), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started and time.time() < deadline:
        time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_llm_server_speaks_openai_completions(llm_server):
    import httpx

    response = httpx.post(f"{llm_server}/v1/completions", timeout=60, json={
        "prompt": ["The capital of France is", "Camping needs a"], "max_tokens": 5, "temperature": 0})
    assert response.status_code == 200
    body = response.json()
    assert len(body["choices"]) == 2 and body["usage"]["completion_tokens"] > 0
    assert httpx.post(f"{llm_server}/v1/completions", json={"prompt": ""}, timeout=10).status_code == 400
    assert httpx.post(f"{llm_server}/v1/completions", json={"prompt": "x", "model": "gpt-9"},
                      timeout=10).status_code == 404


def test_http_backend_end_to_end(ray_local, sampled_day, llm_server):
    from cosmo.generation.job import run
    from cosmo.storage import Storage

    settings = settings_for(sampled_day, backend="http",
                            http={"url": f"{llm_server}/v1/completions", "model": "cosmo-teacher", "batch_size": 4})
    result = run(DAY, settings)
    assert result.generated_now == 12 and result.output_tokens > 0
    candidates = Storage(str(sampled_day)).read("knowledge_candidates", DAY)
    assert set(candidates.column("backend").to_pylist()) == {"http"}
    assert set(candidates.column("model").to_pylist()) == {"cosmo-teacher"}
    assert (candidates.column("parse_status").to_pylist().count("ok")
            + candidates.column("parse_status").to_pylist().count("copied_example")) > 0


def test_vllm_configuration_and_row_functions(teacher_path):
    """The engine stage needs a GPU and vLLM; here: the configuration and our pre/post-processing."""
    from cosmo.config import GenerationSettings
    from cosmo.generation.ray_pipeline import vllm_config, vllm_postprocess, vllm_preprocess

    settings = GenerationSettings(backend="vllm", vllm={"tensor_parallel_size": 2, "concurrency": 3,
                                                        "accelerator_type": "H100"})
    config = vllm_config(teacher_path, settings)
    assert config.model_source == teacher_path and config.should_continue_on_error
    assert config.engine_kwargs["tensor_parallel_size"] == 2 and config.engine_kwargs["enable_prefix_caching"]
    assert config.concurrency == 3 and config.accelerator_type == "H100"
    assert config.engine_kwargs["load_format"] == "auto"
    row = {"prompt_id": "p", "template_id": "t", "behaviour": "search_buy", "relation": "USED_FOR_EVE",
           "head": "camping", "head_text": "camping", "product_id": "B1", "product_text": "Tent",
           "messages": "[]", "prompt_text": "<prompt>"}
    prepared = vllm_preprocess(settings)(row)
    assert prepared["prompt"] == "<prompt>"
    assert prepared["sampling_params"]["max_tokens"] == settings.max_new_tokens
    assert prepared["sampling_params"]["stop"] == ["\n\n"]
    done = vllm_postprocess({**row, "generated_text": " hiking\n2. camping", "num_generated_tokens": 6})
    assert done["generation_text"] == " hiking\n2. camping" and done["output_tokens"] == 6
    failed = vllm_postprocess({**row, "__inference_error__": "CUDA out of memory"})
    assert failed["finish_reason"] == "error" and "out of memory" in failed["error"]
