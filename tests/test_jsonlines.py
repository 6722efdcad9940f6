"""Files a run appends JSON lines to: a last line cut short by a kill is dropped; nothing else is ever dropped."""

import pytest

from nasedge.errors import NasedgeError
from nasedge.jsonlines import read_appended_json_lines


def test_a_cut_last_line_is_dropped_and_said(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": ')
    said = []
    assert read_appended_json_lines(path, "journal", "the round in flight", said.append) == [{"a": 1}, {"a": 2}]
    assert path.read_text() == '{"a":1}\n{"a":2}\n' and "cut short (the round in flight" in said[0]
    path.write_text('{"a": ')  # the first line cut short: still one of ours
    assert read_appended_json_lines(path, "journal", "x", said.append) == [] and path.read_text() == ""


def _records_only(lineno, doc):
    if not isinstance(doc, dict) or "a" not in doc:
        raise NasedgeError(f"line {lineno}: not a record")


@pytest.mark.parametrize("text", ['{"model": "mlp", "weights": [1, 2]}', '{"a": 1}\n{"model": "mlp"}'])
def test_whole_json_of_another_kind_without_a_newline_is_refused_and_kept(tmp_path, text):
    """A JSON file nasedge wrote without a final newline (an accuracy predictor given as --out) is not a cut line."""
    path = tmp_path / "predictor.json"
    path.write_text(text)
    with pytest.raises(NasedgeError, match="not a record"):
        read_appended_json_lines(path, "file of samples", "x", check=_records_only)
    assert path.read_text() == text


def test_a_whole_last_record_gets_its_newline_back(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}')  # the kill fell between a record and its newline
    said = []
    assert read_appended_json_lines(path, "journal", "x", said.append, _records_only) == [{"a": 1}, {"a": 2}]
    assert path.read_text() == '{"a":1}\n{"a":2}\n' and not said


@pytest.mark.parametrize("text", ["my notes", "my notes\n", '{"a": 1}\nnot json\n'])
def test_a_file_of_another_kind_is_refused_and_kept(tmp_path, text):
    path = tmp_path / "notes.txt"
    path.write_text(text)
    with pytest.raises(NasedgeError, match=r"notes.txt:\d: not a JSON line of a journal"):
        read_appended_json_lines(path, "journal", "x")
    assert path.read_text() == text


@pytest.mark.parametrize("line, said", [("[" * 100_000 + "]" * 100_000, "lists nested too deeply"),
                                        ("1" * 5000, "a number too long to read")])
def test_json_past_pythons_limits_is_one_line(tmp_path, line, said):
    from nasedge.arch import Arch, read_archs_jsonl

    (tmp_path / "a.jsonl").write_text(line + "\n")
    with pytest.raises(NasedgeError, match=f"a.jsonl:1: not a JSON-lines arch file \\({said}\\)"):
        read_archs_jsonl(tmp_path / "a.jsonl")
    with pytest.raises(NasedgeError, match=f"not an arch: {said}"):
        Arch.from_json(line, "a.json")
    (tmp_path / "j.jsonl").write_text(line + "\n")
    with pytest.raises(NasedgeError, match="j.jsonl:1: not a JSON line of a journal"):
        read_appended_json_lines(tmp_path / "j.jsonl", "journal", "x")
