"""Hydra configuration: typed schemas in a ConfigStore, YAML groups in ``conf/``, one compose entry point.

Every ``nasedge`` verb builds its config with :func:`compose`, turning its flags into overrides, so
that ``nasedge <verb> key=value`` works the same everywhere and experiments are plain YAML files.
Only :mod:`nasedge.cli` and :mod:`nasedge.commands` import this module: the library below them takes the
composed (typed) configs as arguments (tests/test_layers.py holds to it).
Search spaces form the ``search_space`` group without a YAML of their own in ``conf/``: each file in
``search_spaces/`` is registered as an entry, so adding a space stays one file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nasedge.errors import NasedgeError
from nasedge.registry import plugin_dirs
from nasedge.resources import assets_path, shipped_path


def register_configs() -> None:
    """Store every schema and generated group entry in Hydra's ConfigStore (idempotent).

    Each schema lives with its part (``nasedge/<part>/config.py`` or the plugin's ``Config``); this is the one
    place that gathers them.
    """
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    from nasedge.data import DataConfig
    from nasedge.measure.device import DeviceConfig
    from nasedge.spaces import list_spaces
    from nasedge.spaces.config import SearchSpaceConfig
    from nasedge.supernet.config import SupernetConfig
    from nasedge.train.config import TrainConfig

    cs = ConfigStore.instance()
    # one schema per group; each group's YAML files extend theirs (defaults: [<group>_schema, _self_])
    cs.store(group="supernet", name="supernet_schema", node=SupernetConfig)
    cs.store(group="data", name="data_schema", node=DataConfig)
    cs.store(group="train", name="train_schema", node=TrainConfig)
    cs.store(group="device", name="device_schema", node=DeviceConfig)
    for name in list_spaces():
        cs.store(group="search_space", name=name, node=SearchSpaceConfig(name=name))
    from nasedge.search import list_strategies, strategy_class

    for name in list_strategies():
        cs.store(group="search", name=f"{name}_schema", node=strategy_class(name).Config)

    from nasedge.predict import list_predictors, predictor_class

    for name in list_predictors():
        cs.store(group="predictor", name=f"{name}_schema", node=predictor_class(name).Config)
    from nasedge.service.settings import ServiceSettings

    cs.store(group="service", name="service_schema", node=ServiceSettings)

    from nasedge.specialize.config import SpecializeConfig

    cs.store(group="specialize", name="specialize_schema", node=SpecializeConfig)
    if not OmegaConf.has_resolver("nasedge.asset"):
        OmegaConf.register_new_resolver("nasedge.asset", lambda rel: str(assets_path() / rel))
    if not OmegaConf.has_resolver("nasedge.home"):
        from nasedge import home

        OmegaConf.register_new_resolver("nasedge.home", lambda rel: str(home.home() / rel))


def compose(overrides: Sequence[str] = (), config_name: str = "config") -> Any:
    """Compose ``conf/<config_name>.yaml`` with ``overrides``; bad overrides raise :class:`NasedgeError`."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from nasedge import home

    register_configs()
    # plugins' own config groups, and the user's devices (nasedge devices add) in the nasedge home
    extra = [*plugin_dirs("conf"), *([home.conf_dir()] if home.devices_dir().is_dir() else [])]
    confs = [f"'file://{path}'" for path in extra]
    overrides = [*overrides, *([f"hydra.searchpath=[{','.join(confs)}]"] if confs else [])]
    try:
        with initialize_config_dir(config_dir=str(shipped_path("conf")), version_base="1.3"):
            return hydra_compose(config_name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        raise NasedgeError(f"configuration: {str(exc).strip().splitlines()[0]}") from None


def compose_with_device(device: str, overrides: Sequence[str] = ()) -> tuple[Any, Any]:
    """The composed configuration and the device ``device`` (a ``conf/device`` name, nasedge's or the user's, or
    a device YAML's path).

    The ``device.*`` overrides apply to the named device (composed as the ``device`` group); given a path, they
    fail (edit the file). The device is validated by :func:`nasedge.measure.device.get_device` either way, and
    must be measurable from here (:meth:`~nasedge.measure.device.Device.check_available`): every verb that
    composes a device measures on it.
    """
    from omegaconf import OmegaConf

    from nasedge.measure.device import device_file, get_device, is_device_file

    device_file(device, overrides)  # an unknown name, or device overrides of a YAML path, fail before composing
    if is_device_file(device):
        cfg, loaded = compose(overrides), get_device(device)
    else:
        cfg = compose([f"device={device}", *overrides])
        loaded = get_device(device, OmegaConf.to_container(cfg.device, resolve=True))
    loaded.check_available()
    return cfg, loaded


def data_overrides(value: str) -> list[str]:
    """The overrides a ``--data`` flag stands for: a ``conf/data`` name, an ImageFolder directory (``data=image_folder``,
    ImageNet-style pipeline), or a packed ``.npz`` file (the configured data group's settings, that file)."""
    from pathlib import Path

    if (shipped_path("conf") / "data" / f"{value}.yaml").is_file():
        return [f"data={value}"]
    path = Path(value)
    if path.is_dir():
        return ["data=image_folder", f"data.path={path.resolve()}"]
    if path.is_file():
        return ["data.kind=packed_npz", f"data.path={path.resolve()}"]
    raise NasedgeError(f"--data: {value!r} is neither a data configuration (conf/data) nor an existing folder or file")
