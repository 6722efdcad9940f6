"""The catalog: shipped profiles plus the registered ones, cached per process and checked against the database."""

from __future__ import annotations

import numpy as np

from nasedge.predict.profile import fit_profile
from nasedge.service.catalog import Catalog, DeviceChanged, PredictJob
from nasedge.service.storage import Storage
from nasedge.spaces import get_space

from .conftest import SPACE


def test_a_device_registered_again_for_another_space_is_answered_with_its_new_space(tmp_path, measurements):
    # another server deleted the device and registered it for another space: this one's request was read in the
    # old space, and the answer must say which space is wanted now (sending the same request again cannot work)
    storage = Storage(f"sqlite:///{tmp_path / 'p.db'}")
    storage.migrate()
    (tmp_path / "shipped").mkdir()
    catalog = Catalog(storage, tmp_path / "shipped")
    archs, latency = [a for a, _ in measurements], [ms for _, ms in measurements]
    storage.add(fit_profile("board", SPACE, archs, latency, "flops", cv_folds=3))
    assert catalog.profile("board")[1].space == SPACE  # cached here
    storage.delete("board")
    cifar = get_space("ofa_mbv3_cifar").sample_many(20, 0)
    storage.add(fit_profile("board", "ofa_mbv3_cifar", cifar, list(np.linspace(1, 2, 20)), "flops", cv_folds=3))
    [result] = catalog.predict([PredictJob("board", SPACE, archs[:2])])
    assert isinstance(result, DeviceChanged)
    assert str(result) == (f"device 'board' has been registered again, for space 'ofa_mbv3_cifar', not {SPACE!r}; "
                           f"send archs of 'ofa_mbv3_cifar'")
    [ok] = catalog.predict([PredictJob("board", "ofa_mbv3_cifar", cifar[:3])])
    assert ok.latency_ms.shape == (3,)
    storage.close()
