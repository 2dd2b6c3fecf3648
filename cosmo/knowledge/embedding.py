"""The sentence embedder of the graph: all-MiniLM-L6-v2 from its package by default (or
``models.embedding_path``), loaded from a local folder, never a hub. Any callable from a list of
texts to an (n, d) array works in its place (tests pass a cheap deterministic one); its ``name``
attribute, if any, is recorded with the vectors, and vectors of another embedder are never mixed in.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from cosmo.config import Settings

DEFAULT_NAME = "all-MiniLM-L6-v2"


class TextEmbedder:
    """A sentence-transformers model as an embed function: texts -> unit rows (float32)."""

    def __init__(self, model, name: str, batch_size: int = 256) -> None:
        self.model = model
        self.name = name
        self.batch_size = batch_size

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.model.get_sentence_embedding_dimension()), dtype=np.float32)
        vectors = self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


def load_text_embedder(settings: Settings) -> TextEmbedder:
    from cosmo.models import embedding_model_path
    from cosmo.refinement.similarity import load_embedder

    path = embedding_model_path(settings)
    model = load_embedder(str(path), settings.graph.embedding_device, "float32")
    name = DEFAULT_NAME if not settings.models.embedding_path else path.name
    return TextEmbedder(model, name, settings.graph.embedding_batch_size)


def embedder_name(embed) -> str:
    return str(getattr(embed, "name", None) or getattr(embed, "__name__", None) or type(embed).__name__)


def encode_vectors(matrix: np.ndarray) -> pa.Array:
    """Rows of float32 as little-endian bytes, one binary value per row (compact, and plain values for the
    quality gate, which cannot fingerprint list columns cheaply)."""
    matrix = np.ascontiguousarray(matrix, dtype="<f4")
    width = matrix.shape[1] * 4 if matrix.ndim == 2 else 0
    buffers = [None, pa.py_buffer(matrix.tobytes())]
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(matrix), buffers)
    return fixed.cast(pa.binary())


def decode_vectors(values: pa.Array | pa.ChunkedArray, dims: int) -> np.ndarray:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if len(values) == 0:
        return np.zeros((0, dims), dtype=np.float32)
    fixed = values.cast(pa.binary(dims * 4))
    return np.frombuffer(fixed.buffers()[1], dtype="<f4", count=len(values) * dims,
                         offset=fixed.offset * dims * 4).reshape(len(values), dims).astype(np.float32)


class HashingEmbedder:
    """Character trigrams hashed into ``dims`` buckets, as unit rows: deterministic, instant, no model.
    Texts that share most trigrams are close ("camping trip" / "camping trips"), others are not; for tests
    and dry runs, not for merging real tails (it knows no meaning)."""

    def __init__(self, dims: int = 256) -> None:
        self.dims = dims
        self.name = f"hashing-trigram-{dims}"

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        import hashlib

        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for row, text in enumerate(texts):
            padded = f"  {text} "
            for start in range(len(padded) - 2):
                digest = hashlib.md5(padded[start:start + 3].encode(), usedforsecurity=False).digest()
                out[row, int.from_bytes(digest[:4], "little") % self.dims] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)
