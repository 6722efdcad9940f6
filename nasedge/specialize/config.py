"""Typed configuration of ``nasedge specialize`` (the Hydra ``specialize`` group, ``conf/specialize/``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from nasedge.errors import NasedgeError


@dataclass
class SpecializeConfig:
    """Schema of the Hydra ``specialize`` group (conf/specialize/default.yaml)."""

    # finalists (best predicted accuracy under the predicted budget) measured on the device
    top_k: int = 3
    # of the finalists that meet the budget when measured, how many get their true accuracy evaluated
    # (best predicted first); the pick is the most accurate of those
    evaluate: int = 1
    # test images of the final evaluation (a seeded subset; null: the whole test split) and training images
    # its BatchNorm recalibration forwards (null: data.recalibration_images). With 1,000 + 1,000 a CPU evaluation
    # took 34 s to 115 s by the subnet's size on a loaded 2-core machine (README, "Evaluation"); top-1 standard
    # error about 1.1 points at 86 %. Raise them where a GPU evaluates.
    test_images: Optional[int] = 1000
    recalibration_images: Optional[int] = 1000
    # ray: evaluation as Ray tasks (GPUs where present; a local Ray instance starts by itself); local: in process;
    # auto: Ray when it can pay (a cluster to join, a GPU, or several finalists), else in process
    evaluation: str = "auto"
    formats: List[str] = field(default_factory=lambda: ["torch", "onnx", "tflite"])
    # archs measured to create a device's profile when none is stored (reference archs first) ...
    profile_archs: int = 20
    # ... and up to this many in all, 10 at a time, while the predictor says more would pay (meta: its samples
    # left out are predicted more than 5 % off, or 2 % where its prior does not fit); null: twice profile_archs
    profile_max_archs: Optional[int] = None
    # which archs after the reference ones: active (every other one chosen to pin a linear latency model down,
    # the rest random; nasedge predictor archs) | random
    profile_design: str = "active"
    # predictor fitted to a predict-only device's published measurements
    published_predictor: str = "flops"
    # output folder; null: outputs/specialize/<device>-<budget>
    out_dir: Optional[str] = None

    def check(self) -> None:
        """Fail with the first setting out of range."""
        from nasedge.export import FORMATS

        checks = {"top_k": (self.top_k >= 1, "a positive integer"),
                  "evaluate": (self.evaluate >= 1, "a positive integer"),
                  "profile_archs": (self.profile_archs >= 3, "an integer >= 3"),
                  "profile_max_archs": (self.profile_max_archs is None or self.profile_max_archs >= self.profile_archs,
                                        "null or at least profile_archs"),
                  "test_images": (self.test_images is None or self.test_images >= 1, "a positive integer or null"),
                  "recalibration_images": (self.recalibration_images is None or self.recalibration_images >= 1,
                                           "a positive integer or null"),
                  "evaluation": (self.evaluation in ("auto", "ray", "local"), "auto, ray or local"),
                  "profile_design": (self.profile_design in ("active", "random"), "active or random"),
                  # here, not at the export: after the search and the device's measurements
                  "formats": (bool(self.formats) and all(isinstance(f, str) for f in self.formats)
                              and set(self.formats) <= set(FORMATS),
                              f"a list of one or more of {', '.join(FORMATS)}")}
        for key, (ok, expected) in checks.items():
            if not ok:
                raise NasedgeError(f"specialize.{key}: value {getattr(self, key)!r} is not valid; expected {expected}")
