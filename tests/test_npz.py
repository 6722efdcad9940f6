import numpy as np
import pytest
from nasedge.errors import NasedgeError
from nasedge.npz import read_npz


def test_reads_the_arrays_asked_for(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.arange(3), y=np.ones(2))
    arrays = read_npz(tmp_path / "a.npz", ("x",), "thing")
    assert list(arrays) == ["x"] and arrays["x"].tolist() == [0, 1, 2]


def test_what_is_not_an_archive_of_arrays_is_one_line(tmp_path):
    np.savez(tmp_path / "good.npz", x=np.arange(1000))
    np.save(tmp_path / "bare.npy", np.arange(3))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    files = {"empty.npz": b"", "text.npz": b"hello", "bare.npz": (tmp_path / "bare.npy").read_bytes(),
             "truncated.npz": (tmp_path / "good.npz").read_bytes()[:300]}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    np.savez(tmp_path / "pickled.npz", x=np.array([{"a": 1}], dtype=object), y=np.ones(1))
    expected = {"none.npz": r"none.npz: no such file$",
                "empty.npz": r"empty.npz: cannot read thing \(not an .npz archive of arrays\)$",
                "text.npz": r"text.npz: cannot read thing \(not an .npz archive of arrays\)$",
                "bare.npz": r"bare.npz: cannot read thing \(a single .npy array, not an .npz archive\)$",
                "truncated.npz": r"truncated.npz: cannot read thing \(",
                "pickled.npz": r"pickled.npz: cannot read thing \(",  # object arrays are never unpickled
                "good.npz": r"good.npz: not a thing; missing array 'y'$"}
    for name, message in expected.items():
        with pytest.raises(NasedgeError, match=message):
            read_npz(tmp_path / name, ("x", "y"), "thing")
    with pytest.raises(NasedgeError, match="cannot read thing"):
        read_npz(tmp_path, ("x",), "thing")  # a folder
