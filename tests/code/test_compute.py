"""Resolving the ``auto`` model dtype from what the hardware computes natively."""

from __future__ import annotations

import pytest
import torch

from cosmo.compute import native_dtype


@pytest.mark.parametrize(("amx", "avx512_bf16", "expected"),
                         [(True, True, "bfloat16"), (False, True, "bfloat16"), (False, False, "float32")])
def test_auto_is_bfloat16_only_where_the_cpu_computes_in_it(monkeypatch, amx, avx512_bf16, expected):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    assert native_dtype("auto", "cpu") == expected


def test_auto_is_bfloat16_on_a_gpu_and_an_explicit_dtype_is_kept(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    assert native_dtype("auto", "cuda:0") == "bfloat16"
    assert native_dtype("float32", "cuda") == "float32" and native_dtype("bfloat16", "cpu") == "bfloat16"
