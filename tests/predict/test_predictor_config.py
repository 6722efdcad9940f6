"""The Hydra group `predictor`: one YAML per registered predictor, typed by the predictor's Config."""

import pytest
from omegaconf import OmegaConf

from nasedge.config import compose
from nasedge.errors import NasedgeError
from nasedge.predict import create_predictor, list_predictors, predictor_class
from nasedge.resources import shipped_path


@pytest.mark.parametrize("name", list_predictors())
def test_every_predictor_has_a_yaml_and_builds_from_it(name, cifar_lut_case):
    assert (shipped_path("conf") / "predictor" / f"{name}.yaml").is_file()
    cfg = OmegaConf.to_container(compose([f"predictor={name}"]).predictor)
    assert cfg["name"] == name and cfg["cv_folds"] == 20
    options = predictor_class(name).options_from_config(cfg)
    if name == "lut":
        options["table"] = cifar_lut_case[1]
    p = create_predictor(name, "ofa_mbv3_cifar", **options)
    assert p.name == name


def test_default_is_meta_and_overrides_are_typed():
    assert compose().predictor.name == "meta"
    assert compose(["predictor.nu=2.5"]).predictor.nu == 2.5
    with pytest.raises(NasedgeError, match="^predictor.robust_iters: value many is not valid; expected an integer$"):
        compose(["predictor.robust_iters=many"])
    with pytest.raises(NasedgeError, match="unknown predictor option 'gbm'; known: flops, lut, meta"):
        compose(["predictor=gbm"])


def test_predictor_config_names_the_predictor_and_its_options():
    from nasedge.predict import predictor_config

    cfg = OmegaConf.to_container(compose(["predictor=meta", "predictor.nu=2.5"]).predictor)
    name, options = predictor_config(cfg)
    assert name == "meta" and options["nu"] == 2.5 and "name" not in options and "cv_folds" not in options
    with pytest.raises(NasedgeError, match=r"^predictor config: field 'name' is not set; a predictor's YAML"):
        predictor_config({**cfg, "name": ""})  # the schema's default: a (plugin's) YAML that names none
