"""Which metrics a dataset can be scored on: read from each metric group's ``unsupported`` (no computation), so a
run, a sweep or a thresholds file asking for one its data cannot give is refused before any training."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import datamodules
from benchmark.cli import main
from benchmark.score import check_supported, supported_metrics
from datamodules.image_folder import ImageFolderDataModule


@pytest.mark.parametrize("name", sorted(datamodules.DATAMODULES))
def test_every_dataset_supports_its_own_default_metrics(name):
    dm_cls = datamodules.DATAMODULES[name]
    check_supported(dm_cls.metrics, dm_cls)                 # raises if a group's requirement is too strict
    assert set(dm_cls.metrics) <= set(supported_metrics(dm_cls))


@pytest.mark.parametrize("name, refused", [("ring8", ["fid", "kid", "is", "domain_fd", "stacked_modes"]),
                                           ("grid25", ["precision", "class_coverage"]),
                                           ("digits", ["modes_covered", "reverse_kl", "stacked_modes"]),
                                           ("cifar10", ["modes_covered", "stacked_kl"]),
                                           ("mnist", ["stacked_modes"])])
def test_metrics_a_dataset_cannot_give_are_refused_with_the_ones_it_can(name, refused):
    dm_cls = datamodules.DATAMODULES[name]
    for metric in refused:
        with pytest.raises(ValueError) as e:
            check_supported([*dm_cls.metrics, metric], dm_cls)
        msg = str(e.value)
        assert f"{metric} (" in msg and f"supports: {', '.join(supported_metrics(dm_cls))}" in msg
        assert metric not in supported_metrics(dm_cls)


def _folder(root, labelled: bool, n: int = 8):
    rng = np.random.default_rng(0)
    for i in range(n):
        d = root / (f"class{i % 2}" if labelled else "")
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(d / f"{i}.png")
    return root


def test_labels_known_only_once_read_are_checked_on_the_set_up_data(tmp_path):
    """An image folder's class is unlabelled until its subfolders are read: the class passes, the instance
    without subfolder labels is refused for the domain metrics, the labelled one is accepted."""
    check_supported(["domain_fd"], ImageFolderDataModule)
    plain = ImageFolderDataModule(path=str(_folder(tmp_path / "plain", False)), resolution=8)
    plain.setup()
    with pytest.raises(ValueError, match="no labels"):
        check_supported(["domain_fd"], plain)
    labelled = ImageFolderDataModule(path=str(_folder(tmp_path / "lab", True)), resolution=8,
                                     labels_from_subfolders=True)
    labelled.setup()
    check_supported(["domain_fd", "fid"], labelled)


def test_run_on_an_unlabelled_folder_with_domain_metrics_exits_2_before_training(tmp_path, capsys):
    folder = _folder(tmp_path / "imgs", False)
    results = tmp_path / "results"
    code = main(["run", "--variant", "nsgan", "--data", "image_folder", "--path", str(folder), "--resolution", "8", "--batch-size", "4",
                 "--metrics", "domain_fd", "--iterations", "2", "--results-dir", str(results)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "domain_fd" in err and "no labels" in err, err
    assert not list(results.glob("runs/*.json"))
