"""Bearer tokens: salted scrypt hashes, verification, token files, `nasedge serve token create`."""

from __future__ import annotations

import pytest

from nasedge.cli import main
from nasedge.errors import NasedgeError
from nasedge.service.auth import TokenSet, bearer_token, create_token, hash_token, read_token_file


def test_hash_and_verify():
    token, stored = create_token()
    assert token not in stored and stored.startswith("scrypt$16384$8$1$")
    assert hash_token(token) != stored  # salted
    tokens = TokenSet([stored])
    assert tokens.verify(token) and tokens.verify(token)  # second time from the verified set
    assert not tokens.verify(token + "x") and not tokens.verify("") and not tokens.verify("x" * 10_000)
    assert not TokenSet([]) and not TokenSet([]).verify(token)


def test_bad_hashes_are_named():
    with pytest.raises(NasedgeError, match=r"write_token_hashes: value 'plaintext'.* not a token hash"):
        TokenSet(["plaintext"])
    with pytest.raises(NasedgeError, match="not a token hash"):
        TokenSet(["scrypt$3$8$1$AAAA$AAAA"])  # n not a power of two


def test_token_file_and_cli(tmp_path, capsys):
    path = tmp_path / "tokens"
    assert main(["serve", "token", "create", "--file", str(path)]) == 0
    token = capsys.readouterr().out.split("it is not stored anywhere): ")[1].split()[0]
    path.write_text("# team A\n" + path.read_text() + "\n")
    hashes = read_token_file(path)
    assert len(hashes) == 1 and TokenSet(hashes).verify(token)
    assert main(["serve", "token", "create"]) == 0
    out = capsys.readouterr().out
    assert "service.write_token_hashes=[scrypt$" in out
    assert main(["serve", "token", "delete"]) == 2
    nested = tmp_path / "new" / "folder" / "tokens"  # its folder is made, as every output's is
    assert main(["serve", "token", "create", "--file", str(nested)]) == 0 and len(read_token_file(nested)) == 1
    capsys.readouterr()
    with pytest.raises(NasedgeError, match="cannot read the token file"):
        read_token_file(tmp_path / "missing")


def test_bearer_header():
    assert bearer_token("Bearer abc") == "abc" and bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None and bearer_token(None) is None
    assert bearer_token("Bearer ") is None
