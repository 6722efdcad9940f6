"""Resuming a file of accuracy samples (or of `nasedge eval` results): the archs already there, nothing lost."""

import json

import pytest

from nasedge.errors import NasedgeError
from nasedge.predict.accuracy_samples import done_archs
from nasedge.spaces import get_space


def test_done_archs_resumes_and_drops_only_a_cut_last_line_which_it_says(tmp_path, capsys):
    archs = get_space("ofa_mbv3_cifar").sample_many(2, 0)
    path = tmp_path / "s.jsonl"
    whole = "".join(json.dumps({"arch": a.to_dict(), "top1": 50.0}) + "\n" for a in archs)
    path.write_text(whole + '{"arch": {"spa')
    assert done_archs(path) == set(archs)
    assert capsys.readouterr().err == (f"nasedge: warning: {path}: dropped a last line cut short (the arch in flight "
                                       f"when the run stopped)\n")
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


def test_results_of_another_supernet_or_data_are_not_counted_as_done(tmp_path):
    """A rerun into a file of another supernet's (or data's) results skipped their archs silently."""
    from nasedge.data import DataConfig
    from nasedge.predict.accuracy_samples import evaluation_context

    (tmp_path / "s1.pt").write_bytes(b"one supernet")
    (tmp_path / "s2.pt").write_bytes(b"another")
    (tmp_path / "d.npz").write_bytes(b"data")
    data = DataConfig(path=str(tmp_path / "d.npz"))
    mine = evaluation_context(tmp_path / "s1.pt", data)
    assert mine == evaluation_context(tmp_path / "s1.pt", {**vars(data), "max_memory_gib": 2.0})  # no effect on top-1
    arch = get_space("ofa_mbv3_cifar").sample_many(1, 0)[0]
    path = tmp_path / "r.jsonl"
    for other, word in ((evaluation_context(tmp_path / "s2.pt", data), "supernet file"),
                        (evaluation_context(tmp_path / "s1.pt", DataConfig(path=str(tmp_path / "d.npz"), limit_test=50)),
                         "data")):
        path.write_text(json.dumps({"arch": arch.to_dict(), "top1": 50.0, "context": other}) + "\n")
        with pytest.raises(NasedgeError, match=rf"r.jsonl:1: a result of another {word}"):
            done_archs(path, context=mine)
    path.write_text(json.dumps({"arch": arch.to_dict(), "top1": 50.0, "context": mine}) + "\n"
                    + json.dumps({"arch": arch.to_dict(), "top1": 50.0}) + "\n")  # before contexts: counts
    assert done_archs(path, context=mine) == {arch}


def test_a_second_run_on_the_same_file_is_refused_before_it_evaluates(tmp_path):
    """Two `accuracy sample` runs on one file appended every arch twice (the fit then refuses the file)."""
    from nasedge.data import DataConfig
    from nasedge.predict.accuracy_samples import sample_accuracies
    from nasedge.writer_lock import locked_file

    (tmp_path / "s.pt").write_bytes(b"a supernet")   # never read: the refusal comes first
    out = tmp_path / "acc.jsonl"
    with locked_file(out, "file of accuracy samples"):
        with pytest.raises(NasedgeError, match=f"{out}: another run is appending to this file of accuracy samples"):
            sample_accuracies(get_space("ofa_mbv3_tiny").sample_many(2, 0), out, supernet_path=str(tmp_path / "s.pt"),
                              data=DataConfig(path=str(tmp_path / "none.npz")))
    assert not out.exists()


def test_a_run_that_fails_before_its_first_sample_leaves_no_file_nor_folder(tmp_path):
    from nasedge.data import DataConfig
    from nasedge.predict.accuracy_samples import sample_accuracies

    (tmp_path / "s.pt").write_bytes(b"not a supernet")
    out = tmp_path / "new" / "runs" / "acc.jsonl"
    with pytest.raises(NasedgeError, match="s.pt"):
        sample_accuracies(get_space("ofa_mbv3_tiny").sample_many(2, 0), out, supernet_path=str(tmp_path / "s.pt"),
                          data=DataConfig(path=str(tmp_path / "none.npz")), device="cpu")
    assert not (tmp_path / "new").exists()  # a rerun after the fix finds nothing to explain
