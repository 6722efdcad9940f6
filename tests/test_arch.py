import hashlib
import json
import re

import pytest

from nasedge.arch import Arch, read_archs_jsonl, write_archs_jsonl
from nasedge.errors import ArchError, NasedgeError

KERNEL = [3, 5, 7, 7] * 5
EXPAND = [6, 4, 3, 3] * 5


def make(**kw):
    fields = dict(space="ofa_mbv3_w1.2", kernel=KERNEL, expand=EXPAND, depth=[2, 3, 4, 2, 3], resolution=160)
    fields.update(kw)
    return Arch(**fields)


def test_stores_tuples_and_structure():
    a = make()
    assert isinstance(a.kernel, tuple) and a.max_depth == 4 and a.num_stages == 5
    assert [b.slot for b in a.active_blocks()] == [0, 1, 4, 5, 6, 8, 9, 10, 11, 12, 13, 16, 17, 18]


def test_unused_slots_do_not_change_identity():
    a = make()
    kernel = list(KERNEL)
    kernel[3] = 5  # stage 0 has depth 2: slot 3 is unused
    b = make(kernel=kernel)
    assert a == b and hash(a) == hash(b) and a.digest() == b.digest()
    assert a.canonical().kernel[2:4] == (0, 0)
    kernel[0] = 5  # slot 0 is used
    assert make(kernel=kernel) != a


def test_json_round_trip(tmp_path):
    a = make()
    assert Arch.from_json(a.to_json()) == a
    assert json.loads(a.to_json())["kernel"][2] == 0
    a.save(tmp_path / "a.json")
    assert Arch.load(tmp_path / "a.json") == a
    write_archs_jsonl(tmp_path / "a.jsonl", enumerate([a, make(resolution=128)]))
    assert [arch for _, arch in read_archs_jsonl(tmp_path / "a.jsonl")] == [a, make(resolution=128)]
    a.save(tmp_path / "new" / "a.json")  # its folder made, as write_archs_jsonl does (a FileNotFoundError before)
    assert Arch.load(tmp_path / "new" / "a.json") == a
    with pytest.raises(NasedgeError, match="a.json/b.json: cannot write the arch"):  # under a file: one line
        a.save(tmp_path / "a.json" / "b.json")


def test_numpy_integers_are_integers():
    import numpy as np

    a = make()
    b = Arch(a.space, list(np.array(a.kernel)), a.expand, a.depth, np.int64(a.resolution))
    assert b == a and type(b.resolution) is int and all(type(k) is int for k in b.kernel)
    assert b.to_json() == a.to_json()


def test_digest_is_stable_across_versions():
    # A digest identifies archs in stored datasets and profiles: changing it breaks them.
    text = ('{"space":"ofa_mbv3_w1.2","kernel":[3,5,0,0,3,5,7,0,3,5,7,7,3,5,0,0,3,5,7,0],'
            '"expand":[6,4,0,0,6,4,3,0,6,4,3,3,6,4,0,0,6,4,3,0],"depth":[2,3,4,2,3],"resolution":160}')
    assert make().to_json() == text
    assert make().digest() == hashlib.sha256(text.encode()).hexdigest()[:16] == "bb2b883c33983e0c"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"kernel": [3] * 19}, "kernel"),
        ({"expand": [3] * 16}, "expand"),
        ({"depth": []}, "depth"),
        ({"depth": [2, 3, 5, 2, 3]}, "depth[2]"),
        ({"resolution": "160"}, "resolution"),
        ({"resolution": True}, "resolution"),
        ({"kernel": [3.0] * 20}, "kernel[0]"),
        ({"space": ""}, "space"),
    ],
)
def test_malformed_fields_are_named(change, field):
    with pytest.raises(ArchError) as e:
        make(**change)
    assert e.value.field == field
    assert f"'{field}'" in str(e.value)


def test_kernel_and_expand_of_other_lengths_say_both():
    with pytest.raises(ArchError, match=r"expand has 20, kernel 20000"):  # the long one is kernel: both are said
        make(kernel=[3] * 20000)


def test_lengths_are_those_of_the_space_where_it_is_known(tmp_path):
    """Lengths were checked against len(depth): a depth of 6 entries blamed kernel ("a multiple of 6"), a kernel of
    19 asked for "a multiple of 5", and depth [] was said before the space that no one knows."""
    from nasedge.spaces import get_space, installed_shape

    good = make().to_dict()
    cases = [({"depth": [2, 3, 4, 2, 3, 2]}, "depth", "expected 5 entries (one per stage)"),
             ({"kernel": KERNEL[:19]}, "kernel", "expected 20 entries (5 stages x 4 slots)"),
             ({"kernel": KERNEL[:15], "expand": EXPAND[:15]}, "kernel", "expected 20 entries (5 stages x 4 slots)"),
             ({"expand": EXPAND[:19]}, "expand", "expected 20 entries (5 stages x 4 slots)")]
    for change, field, expected in cases:
        for shape_of in (installed_shape, get_space("ofa_mbv3_w1.2").shape_of):
            with pytest.raises(ArchError, match=rf"^x.json: field '{field}': .*{re.escape(expected)}$") as e:
                Arch.from_dict({**good, **change}, "x.json", shape_of)
            assert e.value.field == field
        with pytest.raises(ArchError, match=re.escape(expected)):
            Arch.from_json(json.dumps({**good, **change}), "m.csv:2", installed_shape)
        (tmp_path / "a.jsonl").write_text(json.dumps(good) + "\n" + json.dumps({**good, **change}) + "\n")
        with pytest.raises(ArchError, match=rf"a.jsonl:2: field '{field}': .*{re.escape(expected)}"):
            read_archs_jsonl(tmp_path / "a.jsonl", installed_shape)
    nope = {**good, "space": "nope", "depth": []}
    with pytest.raises(NasedgeError, match=r"^x.json: unknown search space 'nope'; known: "):
        Arch.from_dict(nope, "x.json", installed_shape)
    with pytest.raises(ArchError, match=r"^x.json: field 'space': value 'nope' is not allowed; expected 'ofa_mbv3_w1"):
        Arch.from_dict(nope, "x.json", get_space("ofa_mbv3_w1.2").shape_of)
    with pytest.raises(ArchError, match=r"field 'space'"):  # not a name: said before it is looked up
        Arch.from_dict({**good, "space": 3}, "x.json", installed_shape)
    assert Arch.from_dict(good, "x.json", installed_shape) == make()


def test_from_dict_rejects_unknown_and_missing_fields():
    d = make().to_dict()
    with pytest.raises(ArchError, match="'kernal'"):
        Arch.from_dict({**d, "kernal": d["kernel"]}, source="x.json")
    d.pop("resolution")
    with pytest.raises(ArchError, match="x.json: field 'resolution': missing"):
        Arch.from_dict(d, source="x.json")
    with pytest.raises(ArchError, match=r"x.json: value \[1, 2\] is not an arch; expected a JSON object"):
        Arch.from_dict([1, 2], source="x.json")


def test_bad_json_names_file_and_position(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"space": ')
    with pytest.raises(NasedgeError, match=r"bad.json: invalid JSON at line 1"):
        Arch.load(p)
    with pytest.raises(NasedgeError, match="no such file"):
        Arch.load(tmp_path / "missing.json")


def test_an_arch_file_read_wrong_is_refused_and_a_bom_read(tmp_path):
    from nasedge.spaces import get_space

    arch = get_space("ofa_mbv3_tiny").max_arch()
    p = tmp_path / "a.json"
    text = arch.to_json()
    p.write_text(text[:-1] + ', "depth": [1, 1, 1]}')  # the last of two was taken silently
    with pytest.raises(NasedgeError, match=r"a.json: field 'depth' is given twice; give it once"):
        Arch.load(p)
    p.write_text(text + "\n" + text + "\n")  # JSON lines: "Extra data" alone said nothing of why
    with pytest.raises(NasedgeError, match=r"a.json: invalid JSON at line 2 column 1: Extra data \(a second JSON value"):
        Arch.load(p)
    p.write_bytes(b"\xef\xbb\xbf" + text.encode())  # a Windows editor's BOM, as .jsonl files take it
    assert Arch.load(p) == arch
    lines = tmp_path / "a.jsonl"  # a field twice in JSON lines too
    lines.write_text(text + "\n" + text[:-1] + ', "resolution": 20}\n')
    with pytest.raises(NasedgeError, match=r"a.jsonl:2: field 'resolution' is given twice; give it once"):
        read_archs_jsonl(lines)
    with pytest.raises(NasedgeError) as cell:  # JSON text that is no arch file (a CSV cell) gets no file's hint
        Arch.from_json(text + text, "m.csv:2")
    assert str(cell.value).endswith("Extra data")


def test_archs_jsonl_errors(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"arch_id": 1, "space": "ofa_mbv3_cifar"}\n')
    with pytest.raises(NasedgeError, match="a.jsonl:1: field 'kernel'"):
        read_archs_jsonl(tmp_path / "a.jsonl")
    arch = make().to_dict()
    (tmp_path / "b.jsonl").write_text(json.dumps({"arch_id": 1, **arch}) + "\n" + json.dumps({"arch_id": 1, **arch}))
    with pytest.raises(NasedgeError, match="arch_id '1' appears more than once"):
        read_archs_jsonl(tmp_path / "b.jsonl")
