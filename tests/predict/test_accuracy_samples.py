"""Resuming a file of accuracy samples (or of `nasedge eval` results): the archs already there, nothing lost."""

import json

import pytest

from nasedge.errors import NasedgeError
from nasedge.predict.accuracy_samples import done_archs
from nasedge.spaces import get_space


def test_done_archs_resumes_and_drops_only_a_cut_last_line(tmp_path):
    archs = get_space("ofa_mbv3_cifar").sample_many(2, 0)
    path = tmp_path / "s.jsonl"
    whole = "".join(json.dumps({"arch": a.to_dict(), "top1": 50.0}) + "\n" for a in archs)
    path.write_text(whole + '{"arch": {"spa')
    assert done_archs(path) == set(archs)
    assert [json.loads(line) for line in path.read_text().splitlines()] == [json.loads(line) for line in
                                                                           whole.splitlines()]
    assert done_archs(tmp_path / "none.jsonl") == set()


@pytest.mark.parametrize("text", ["notes", "notes\n", '{"top1": 1}\n'])
def test_done_archs_refuses_a_file_that_holds_no_samples_and_keeps_it(tmp_path, text):
    path = tmp_path / "notes.txt"
    path.write_text(text)
    with pytest.raises(NasedgeError, match=r"notes.txt:1: not a"):
        done_archs(path)
    assert path.read_text() == text
