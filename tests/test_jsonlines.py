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


@pytest.mark.parametrize("text", ["my notes", "my notes\n", '{"a": 1}\nnot json\n'])
def test_a_file_of_another_kind_is_refused_and_kept(tmp_path, text):
    path = tmp_path / "notes.txt"
    path.write_text(text)
    with pytest.raises(NasedgeError, match=r"notes.txt:\d: not a JSON line of a journal"):
        read_appended_json_lines(path, "journal", "x")
    assert path.read_text() == text
