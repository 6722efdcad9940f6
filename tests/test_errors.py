"""The one-line errors of nasedge.errors: what a user reads for a file that cannot be read."""

import os

import pytest

from nasedge.errors import NasedgeError, read_text_file


def test_read_text_file_names_each_way_a_file_cannot_be_read(tmp_path):
    (tmp_path / "ok.txt").write_bytes(b"\xef\xbb\xbfhello")
    assert read_text_file(tmp_path / "ok.txt", "a note", encoding="utf-8-sig") == "hello"  # the BOM skipped
    with pytest.raises(NasedgeError, match=r"^.*none.txt: no such note$"):
        read_text_file(tmp_path / "none.txt", "a note", missing="no such note")
    (tmp_path / "dir.txt").mkdir()
    with pytest.raises(NasedgeError, match=r"dir.txt: is a folder, expected a note$"):
        read_text_file(tmp_path / "dir.txt", "a note")
    (tmp_path / "bytes.txt").write_bytes(b"ab\xfc")
    with pytest.raises(NasedgeError, match=r"bytes.txt: not UTF-8 text \(byte 0xfc at offset 2\); expected a note, "
                                           r"saved as UTF-8$"):
        read_text_file(tmp_path / "bytes.txt", "a note")
    locked = tmp_path / "locked.txt"
    locked.write_text("x")
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):  # root reads anything
            pytest.skip("running as root: permissions do not stop a read")
        with pytest.raises(NasedgeError, match=r"locked.txt: cannot be read \(Permission denied\)$"):
            read_text_file(locked, "a note")
    finally:
        locked.chmod(0o600)
