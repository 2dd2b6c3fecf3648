"""A small OpenAI-compatible completions server over the transformers backend.

It lets the HTTP generation path (and anything that speaks the OpenAI completions API) run
against the embedded model on one machine; in production the same clients point at a vLLM
server. Requests are served one at a time (the backend batches within a request).
"""

from __future__ import annotations

import threading
import time
import uuid

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from cosmo.config import GenerationSettings
from cosmo.generation.transformers_backend import TransformersBackend


class CompletionRequest(BaseModel):
    model: str | None = None
    prompt: str | list[str]
    max_tokens: int = Field(default=48, ge=1, le=1024)
    temperature: float = Field(default=0.7, ge=0)
    top_p: float = Field(default=0.9, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None


def create_app(model_path: str, settings: GenerationSettings, model_name: str = "cosmo-teacher") -> FastAPI:
    backend = TransformersBackend(model_path, settings)
    lock = threading.Lock()
    app = FastAPI(title="cosmo LLM server", version="1")

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "model": model_name}

    @app.get("/v1/models")
    def models() -> dict:
        return {"object": "list", "data": [{"id": model_name, "object": "model", "owned_by": "cosmo"}]}

    @app.post("/v1/completions")
    def completions(request: CompletionRequest) -> dict:
        if request.model not in (None, model_name):
            raise HTTPException(status_code=404, detail=f"model {request.model!r} is not served here")
        texts = [request.prompt] if isinstance(request.prompt, str) else request.prompt
        if not texts or any(not t for t in texts):
            raise HTTPException(status_code=400, detail="prompt must be a non-empty string or list of strings")
        stop = [request.stop] if isinstance(request.stop, str) else list(request.stop or settings.stop)
        with lock:
            backend.settings = settings.model_copy(update={
                "max_new_tokens": request.max_tokens, "temperature": request.temperature,
                "top_p": request.top_p, "stop": stop})
            generations = backend.complete(texts)
        choices = [{"index": i, "text": g.text or "", "finish_reason": g.finish_reason, "logprobs": None}
                   for i, g in enumerate(generations)]
        completion_tokens = sum(g.output_tokens for g in generations)
        prompt_tokens = sum(len(ids) for ids in backend.tokenizer(texts, add_special_tokens=False)["input_ids"])
        return {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
                "model": model_name, "choices": choices,
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens}}

    return app
