import re

import numpy as np
import pytest
import torch

from nasedge.data import (DataConfig, ImageDataset, dataset_classes, load_dataset, load_evaluation_data,
                          recalibration_subset)
from nasedge.errors import NasedgeError
from tests.synthetic_data import write_dataset


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("d") / "d.npz", n_train=200, n_test=50)


def test_packed_npz_loads_both_splits(packed):
    train, test = load_dataset(DataConfig(path=str(packed), image_size=24))
    assert train.images.shape == (200, 3, 24, 24) and test.images.shape == (50, 3, 24, 24)
    assert train.images.dtype.is_floating_point is False and sorted(set(train.labels.tolist())) == list(range(10))


def test_limits_draw_every_class_not_the_first_files(tmp_path):
    # files stored by class (as ImageFolder order): the first 40 would all be class 0
    from nasedge.data.packed_npz import write_packed_npz
    from tests.synthetic_data import make_images

    blobs, labels = make_images(200, 16, 0)
    order = np.argsort(labels, kind="stable")
    write_packed_npz(tmp_path / "sorted.npz", [str(i) for i in range(10)],
                     ([blobs[i] for i in order], [labels[i] for i in order]), (blobs[:20], labels[:20]))
    train, _ = load_dataset(DataConfig(path=str(tmp_path / "sorted.npz"), image_size=16, limit_train=40))
    assert len(train) == 40 and len(set(train.labels.tolist())) >= 8
    again, _ = load_dataset(DataConfig(path=str(tmp_path / "sorted.npz"), image_size=16, limit_train=40))
    assert (again.labels == train.labels).all()


def test_recalibration_subset_is_fixed(packed):
    cfg = DataConfig(path=str(packed), image_size=24, recalibration_images=30)
    train, _ = load_dataset(cfg)
    a, b = recalibration_subset(train, cfg), recalibration_subset(train, cfg)
    assert a.shape[0] == 30 and (a == b).all()
    first = recalibration_subset(train, DataConfig(path=str(packed), recalibration_images=30, recalibration_seed=None,
                                                   recalibration_augment=False))
    assert (first == train.images[:30]).all()


def test_recalibration_images_carry_the_training_augmentation(packed):
    """Crop, flip and Cutout, drawn the same for a shipped subset stored in order as for the full split."""
    cfg = DataConfig(path=str(packed), image_size=24, recalibration_images=30, cutout=8)
    train, _ = load_dataset(cfg)
    clean = recalibration_subset(train, DataConfig(**{**vars(cfg), "recalibration_augment": False}))
    augmented = recalibration_subset(train, cfg)
    assert augmented.shape == clean.shape and augmented.dtype == torch.uint8
    assert not torch.equal(augmented, clean)
    mean = torch.tensor([round(255 * m) for m in cfg.mean], dtype=torch.uint8).view(1, 3, 1, 1)
    filled = (augmented == mean).all(1)   # Cutout squares hold the mean colour
    assert int(filled.flatten(1).sum(1).min()) >= 4 * 4  # a square centred on a corner keeps 4 x 4 pixels
    shipped = ImageDataset(clean, train.labels[:30], train.classes)  # the subset, stored in training's order
    in_order = DataConfig(**{**vars(cfg), "recalibration_seed": None})
    assert torch.equal(recalibration_subset(shipped, in_order), augmented)


def test_a_manifest_records_the_seed_recalibration_draws_from():
    """Stored order (recalibration_seed null) still augments from seed 0 (the test above): a manifest said null."""
    assert DataConfig(recalibration_seed=None).recalibration_draw() == {
        "subset": "the first, in stored order", "augment": True, "seed": 0}
    assert DataConfig(recalibration_seed=3, recalibration_augment=False).recalibration_draw() == {
        "subset": "random, seeded", "augment": False, "seed": 3}
    # nothing drawn at random: no seed to record
    assert "seed" not in DataConfig(recalibration_seed=None, recalibration_augment=False).recalibration_draw()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from tests.synthetic_data import make_images

    root = tmp_path_factory.mktemp("folder")
    for split, n in (("train", 60), ("val", 20)):
        blobs, labels = make_images(n, 20, 5)
        for i, (b, y) in enumerate(zip(blobs, labels)):
            (root / split / f"class{y}").mkdir(parents=True, exist_ok=True)
            (root / split / f"class{y}" / f"{i}.jpg").write_bytes(b)
    return root


@pytest.mark.parametrize("kind", ["packed_npz", "image_folder"])
@pytest.mark.parametrize("settings", [{}, {"limit_train": 45, "limit_test": 15}, {"recalibration_seed": None},
                                      {"recalibration_augment": False, "limit_train": 25},
                                      {"train_crop": "random_resized", "recalibration_images": 500}])
def test_evaluation_data_is_what_the_full_splits_give(packed, folder, kind, settings):
    """Only the recalibration images of the training split are decoded, and they are the same images in the same
    order, augmented the same, as recalibration_subset of the loaded split; the test split (or a subset) likewise."""
    cfg = DataConfig(**{"kind": kind, "path": str(packed if kind == "packed_npz" else folder), "image_size": 16,
                        "recalibration_images": 20, "cutout": 4, **settings})
    train, test = load_dataset(cfg)
    recal, test_only = load_evaluation_data(cfg)
    assert torch.equal(recal, recalibration_subset(train, cfg))
    assert torch.equal(test_only.images, test.images) and torch.equal(test_only.labels, test.labels)
    _, few = load_evaluation_data(cfg, test_images=7, test_seed=3)
    assert torch.equal(few.images, test.subset(7, 3).images) and torch.equal(few.labels, test.subset(7, 3).labels)
    assert len(load_evaluation_data(cfg, test_images=0)[1]) == 0


@pytest.mark.gpu
def test_evaluation_data_decoded_on_the_gpu_is_what_the_full_splits_give(packed):
    cfg = DataConfig(path=str(packed), image_size=16, recalibration_images=20, decode="cuda", limit_train=150)
    train, test = load_dataset(cfg)
    recal, test_only = load_evaluation_data(cfg, test_images=9)
    assert torch.equal(recal, recalibration_subset(train, cfg)) and torch.equal(test_only.images, test.subset(9).images)


def test_only_the_images_used_count_against_the_memory_limit(folder):
    """A folder too large to decode whole (ImageNet's training split) still gives its recalibration images and
    a limited split; what is held is what is checked."""
    tight = DataConfig(kind="image_folder", path=str(folder), image_size=16, recalibration_images=10,
                       max_memory_gib=40 * 3 * 16 * 16 / 2**30)   # room for 40 images of the 80
    with pytest.raises(NasedgeError, match=r": 5.7e-05 GiB of decoded images at 16px exceeds the in-memory limit "
                                           r"data.max_memory_gib=.*use fewer images "
                                           r"\(data.limit_train, data.limit_test\)"):
        load_dataset(tight)
    recal, test = load_evaluation_data(tight)
    assert recal.shape == (10, 3, 16, 16) and len(test) == 20
    train, _ = load_dataset(DataConfig(**{**vars(tight), "limit_train": 20}))
    assert len(train) == 20


def test_bad_paths_and_kinds_are_one_line_errors(tmp_path):
    with pytest.raises(NasedgeError, match="no such file"):
        load_dataset(DataConfig(path=str(tmp_path / "none.npz")))
    with pytest.raises(NasedgeError, match="data.kind"):
        load_dataset(DataConfig(kind="lmdb", path=str(tmp_path)))
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(NasedgeError, match=r"cannot read packed image dataset \(not an .npz archive of arrays\)$"):
        load_dataset(DataConfig(path=str(tmp_path / "junk.npz")))  # not numpy's advice to load it unsafely
    (tmp_path / "empty.npz").write_bytes(b"")
    np.save(tmp_path / "bare.npy", np.arange(3))
    for name, message in (("empty.npz", r"empty.npz: cannot read packed image dataset \(not an .npz archive"),
                          ("bare.npy", r"bare.npy: cannot read packed image dataset \(a single .npy array"),
                          ("junk.npz", "cannot read packed image dataset")):
        for read in (load_dataset, dataset_classes):  # the classes alone are read before a long job starts
            with pytest.raises(NasedgeError, match=message):
                read(DataConfig(path=str(tmp_path / name)))


def test_image_folder_layout(tmp_path):
    from tests.synthetic_data import make_images

    for split, n in (("train", 30), ("test", 10)):
        blobs, labels = make_images(n, 20, 3)
        for i, (b, y) in enumerate(zip(blobs, labels)):
            d = tmp_path / split / f"class{y}"
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{i}.jpg").write_bytes(b)
    train, test = load_dataset(DataConfig(kind="image_folder", path=str(tmp_path), image_size=16))
    assert train.images.shape == (30, 3, 16, 16) and len(test) == 10 and train.classes[0] == "class0"
    (tmp_path / "test" / "extra").mkdir()
    with pytest.raises(NasedgeError, match="class directory 'extra'"):
        load_dataset(DataConfig(kind="image_folder", path=str(tmp_path), image_size=16))
    (tmp_path / "test" / "extra").rmdir()
    (tmp_path / "train" / "zebra").mkdir()  # an empty class folder would be a class of its own
    with pytest.raises(NasedgeError, match=r"train/zebra: a class directory without images"):
        load_dataset(DataConfig(kind="image_folder", path=str(tmp_path), image_size=16))
    (tmp_path / "train" / "zebra").rmdir()
    (tmp_path / "train" / "class1" / "broken.jpg").write_bytes(b"not an image")  # named, in a tree of thousands
    with pytest.raises(NasedgeError, match=r"train/class1/broken.jpg: not a readable image \(UnidentifiedImageError: "
                                           r"cannot identify image file\)$"):  # no <_io.BytesIO object at 0x...>
        load_dataset(DataConfig(kind="image_folder", path=str(tmp_path), image_size=16))


def test_an_undecodable_image_in_a_packed_file_is_named(tmp_path):
    from nasedge.data.packed_npz import write_packed_npz
    from tests.synthetic_data import make_images

    blobs, labels = make_images(4, 8, 0)
    write_packed_npz(tmp_path / "d.npz", ["a", "b", "c", "d"], make_images(4, 8, 1),
                     ([*blobs[:2], b"junk", blobs[3]], labels))
    with pytest.raises(NasedgeError, match=r"d.npz: test image 2 is not a readable image"):
        load_dataset(DataConfig(path=str(tmp_path / "d.npz"), image_size=8))


@pytest.mark.parametrize("key, value, expected", [
    ("image_size", -3, "a positive number of pixels"), ("image_size", 0, "a positive number of pixels"),
    ("crop_padding", -2, "an integer >= 0"), ("cutout", -1, "an integer >= 0"), ("limit_seed", -1, "an integer >= 0"),
    ("mean", (0.5,), "3 numbers"), ("std", (0.0, 0.0, 0.0), "3 positive numbers"),
    ("limit_test", 0, "a positive integer or null"), ("limit_train", -5, "a positive integer or null"),
    ("recalibration_images", 0, "a positive integer"), ("recalibration_batch_size", 0, "a positive integer"),
    ("max_memory_gib", -1.0, "a positive number of GiB"), ("crop_scale", (0.5, 0.2), "[low, high] with 0 < low <= high <= 1"),
    ("eval_crop", 1.5, "a share in (0, 1]"), ("num_classes", 0, "a positive integer or null"),
])
def test_settings_out_of_range_are_one_line_before_any_image_is_read(tmp_path, key, value, expected):
    """They were tracebacks (negative sizes, a mean of one channel), or failed after an epoch (limit_test=0)."""
    path = tmp_path / "d.npz"
    write_dataset(path, n_train=20, n_test=10, size=8)
    with pytest.raises(NasedgeError, match=rf"^data.{key}: value .* is not valid; expected {re.escape(expected)}"):
        load_dataset(DataConfig(path=str(path), **{key: value}))


def test_every_shipped_data_config_is_in_range():
    from omegaconf import OmegaConf

    from nasedge.config import compose, group_options

    for option in group_options("data"):
        OmegaConf.to_object(compose([f"data={option}"]).data).check()


def _packed_with(path, **changes):
    """A small valid packed file (10 classes, 20 train and 10 test images) with ``changes`` to its arrays."""
    write_dataset(path, n_train=20, n_test=10, size=8)
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    for key, change in changes.items():
        arrays[key] = change(arrays[key].copy())
    np.savez(path, **arrays)
    return path


def _set(row, value):
    def change(a):
        a[row] = value
        return a
    return change


@pytest.mark.parametrize("changes, message", [
    ({"train_labels": _set(5, 42)}, r"train_labels holds 42 at row 5; expected 0\.\.9 \(10 classes in classes\)$"),
    ({"train_labels": _set(3, -1)}, r"train_labels holds -1 at row 3; expected 0\.\.9 \(10 classes in classes\)$"),
    ({"classes": lambda a: a[:5]}, r"train_labels holds 5 at row 5; expected 0\.\.4 \(5 classes in classes\)$"),
    ({"test_labels": _set(7, 10)}, r"test_labels holds 10 at row 7; expected 0\.\.9 \(10 classes in classes\)$"),
    ({"train_labels": lambda a: a.astype(np.float64)},
     r"train_labels is float64 of shape \(20,\); expected a list of integers$"),
    ({"train_offsets": lambda a: np.append(a[:-1], a[-1] + 100)},
     r"train_offsets ends at (\d+), past the end of train_jpeg \((?!\1)\d+ bytes\)$"),
    ({"test_offsets": _set(4, 0)}, r"test_offsets decreases at entry 4 \(0 after \d+\); expected non-decreasing "
                                   r"offsets into test_jpeg$"),
    ({"train_offsets": _set(0, -1)}, r"train_offsets starts at -1; expected offsets >= 0 into train_jpeg$"),
    ({"test_offsets": lambda a: _set(4, 0)(a.astype(np.uint64))},  # np.diff of unsigned offsets wraps around
     r"test_offsets decreases at entry 4 \(0 after \d+\); expected non-decreasing offsets into test_jpeg$"),
    ({"classes": lambda a: a[:0]}, r"classes has shape \(0,\); expected a list of class names$"),
], ids=["label-42", "label-minus-1", "5-classes", "test-label", "float-labels", "offsets-past-end", "offsets-decrease",
        "offset-negative", "unsigned-offsets-decrease", "no-classes"])
def test_labels_and_offsets_outside_the_file_are_one_line_before_any_image_is_decoded(tmp_path, changes, message):
    """A label past the class list failed inside the first training step (IndexError, "Target 6 is out of bounds"),
    or in evaluation counted as a wrong prediction; float labels were cast; offsets past the bytes were accepted."""
    path = _packed_with(tmp_path / "bad.npz", **changes)
    for load in (load_dataset, load_evaluation_data):
        with pytest.raises(NasedgeError, match=f"^{re.escape(str(path))}: {message}"):
            load(DataConfig(path=str(path), image_size=8))


def test_the_shipped_packed_files_pass_the_checks(shared_datasets):
    from pathlib import Path

    from nasedge.config import compose
    from nasedge.data.packed_npz import KEYS, WHAT, _check_split
    from nasedge.npz import read_npz

    paths = [Path(compose(["data=cifar10_embedded"]).data.path), shared_datasets / "cifar10-jpeg.npz"]
    for path in [p for p in paths if p.exists()]:
        arrays = read_npz(path, KEYS, WHAT)
        for split in ("train", "test"):
            _check_split(path, split, arrays, len(arrays["classes"]))


def test_cifar10_as_a_folder_trains_the_recipe_of_the_packed_file():
    """The two forms of the same images composed to different recipes: the folder config lacked Cutout 16."""
    from dataclasses import asdict

    from omegaconf import OmegaConf

    from nasedge.config import compose

    packed, folder = (asdict(OmegaConf.to_object(compose([f"data={option}"]).data))
                      for option in ("cifar10", "cifar10_folder"))
    assert (packed.pop("kind"), folder.pop("kind")) == ("packed_npz", "image_folder")
    packed.pop("path"), folder.pop("path")
    assert folder == packed and folder["cutout"] == 16


def test_the_data_identity_names_how_data_differs_whatever_its_path(packed, tmp_path):
    """What a resume and the ranks of a run compare instead of data.path; the images by their encoded bytes, which
    no decoder changes (the decoded pixels differ by rounding between GPU models and library versions)."""
    import shutil

    from nasedge.data import data_difference, data_identity
    from nasedge.data.packed_npz import write_packed_npz
    from tests.synthetic_data import make_images

    cfg = DataConfig(path=str(packed), image_size=24)
    train, test = load_dataset(cfg)
    ours = data_identity(cfg, train, test)
    moved = DataConfig(path=str(shutil.copy(packed, tmp_path / "moved.npz")), image_size=24)
    assert data_difference(data_identity(moved, *load_dataset(moved)), ours) == ""
    # the same files decoded otherwise (another decoder's rounding, another size): the same data
    darker = ImageDataset(train.images // 2, train.labels, train.classes, train.encoded)
    assert data_difference(data_identity(cfg, darker, test), ours) == ""
    resized = DataConfig(path=str(packed), image_size=20)
    assert data_difference(data_identity(resized, *load_dataset(resized)), ours) == ""
    # other files of the same count and labels: other data
    other = tmp_path / "other.npz"
    write_packed_npz(other, train.classes, make_images(200, 24, 7), make_images(50, 24, 1))
    other_cfg = DataConfig(path=str(other), image_size=24)
    assert data_difference(data_identity(other_cfg, *load_dataset(other_cfg)), ours) == "other images"
    # an identity of the earlier format (decoded pixels and the decoder's name): sizes and labels compared alone
    earlier = {**{k: v for k, v in ours.items() if k != "encoded"}, "images": "0" * 16, "decoder": "cuda"}
    assert data_difference(ours, earlier) == "" and data_difference(earlier, ours) == ""
    relabelled = ImageDataset(train.images, train.labels.roll(1), train.classes, train.encoded)
    assert data_difference(data_identity(cfg, relabelled, test), ours) == "other classes or labels"
    assert data_difference(data_identity(cfg, train.subset(150), test), ours) == "150 training images against 200"
    assert data_difference(data_identity(cfg, train, test.subset(20)), ours) == "20 test images against 50"


def test_an_image_folder_is_identified_by_its_files_bytes(folder, tmp_path):
    import shutil

    from nasedge.data import data_difference, data_identity

    cfg = DataConfig(kind="image_folder", path=str(folder), image_size=24)
    ours = data_identity(cfg, *load_dataset(cfg))
    assert ours["encoded"] is not None
    copy = shutil.copytree(folder, tmp_path / "copy")
    first = sorted((copy / "train").glob("*/*"))[0]
    first.write_bytes(first.read_bytes() + b"\0")  # one sampled file's bytes differ, not its pixels
    changed = DataConfig(kind="image_folder", path=str(copy), image_size=24)
    assert data_difference(data_identity(changed, *load_dataset(changed)), ours) == "other images"
