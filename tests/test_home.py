"""The nasedge home: NASEDGE_HOME, else the platform's user data folder; folders made by writes only."""

from pathlib import Path

from nasedge import home


def test_home_is_the_environment_variable_else_the_platform_user_data_dir(monkeypatch, tmp_path):
    import platformdirs

    monkeypatch.setenv("NASEDGE_HOME", str(tmp_path / "h"))
    assert home.home() == tmp_path / "h"
    assert home.devices_dir() == tmp_path / "h" / "conf" / "device" and home.conf_dir() == tmp_path / "h" / "conf"
    assert home.profiles_dir() == tmp_path / "h" / "profiles"
    assert home.measurements_dir() == tmp_path / "h" / "measurements"
    monkeypatch.setenv("NASEDGE_HOME", "~/nh")
    assert home.home() == Path.home() / "nh"
    monkeypatch.delenv("NASEDGE_HOME")
    assert home.home() == Path(platformdirs.user_data_dir("nasedge", appauthor=False))


def test_reading_the_home_creates_nothing(nasedge_home):
    from nasedge.measure import list_devices
    from nasedge.predict.profile import list_profiles

    assert "cpu" in list_devices() and "cpu" in list_profiles()  # the shipped ones
    assert list(nasedge_home.iterdir()) == []


def test_service_database_defaults_to_the_home(nasedge_home):
    from nasedge.config import compose
    from nasedge.service.settings import ServiceSettings

    expected = f"sqlite:///{nasedge_home / 'service' / 'profiles.db'}"
    assert ServiceSettings().db == expected and compose().service.db == expected


def test_a_home_that_is_a_file_is_one_line_at_the_start(tmp_path, monkeypatch, capsys):
    # it was a NotADirectoryError traceback when the first file was written into it, after the measuring
    from nasedge.cli import main

    (tmp_path / "f.csv").write_text("x\n")
    monkeypatch.setenv("NASEDGE_HOME", str(tmp_path / "f.csv"))
    line = f"nasedge: error: NASEDGE_HOME={tmp_path / 'f.csv'}: not a folder; point it at a folder (created if missing)\n"
    assert main(["devices", "add", "q", "--runtime", "onnxruntime"]) == 2
    assert capsys.readouterr().err == line
    # a verb that only composes the configuration (the service's database path resolves in the home): OmegaConf
    # appended "full_key:" and "object_type=" lines to the resolver's error
    assert main(["arch", "sample", "--space", "ofa_mbv3_cifar"]) == 2
    assert capsys.readouterr().err == line


def test_profile_folders_are_the_given_ones_else_the_home_and_the_measurements_when_measuring(nasedge_home, tmp_path,
                                                                                            read_only_folder):
    import pytest

    from nasedge.errors import NasedgeError

    given = tmp_path / "p"
    for folder in (given, nasedge_home / "profiles", nasedge_home / "measurements"):
        folder.mkdir()
    read_only_folder(nasedge_home / "measurements")
    home.check_profile_folders("--profiles-dir", [str(given)], measuring=False)
    with pytest.raises(NasedgeError, match="NASEDGE_HOME"):
        home.check_profile_folders("--profiles-dir", [str(given)], measuring=True)
    read_only_folder(given)
    with pytest.raises(NasedgeError, match="--profiles-dir"):
        home.check_profile_folders("--profiles-dir", [str(given)], measuring=False)
    home.check_profile_folders("--profiles-dir", [], measuring=True)  # the home's folders, not the one given
    read_only_folder(nasedge_home / "profiles")
    with pytest.raises(NasedgeError, match="NASEDGE_HOME"):
        home.check_profile_folders("predictor.profiles_dir", [], measuring=False)
    home.check_profile_folders("predictor.profiles_dir", [str(given)], measuring=False)
