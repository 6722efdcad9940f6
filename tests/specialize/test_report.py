import json

import pytest

from nasedge.specialize.report import render_report, uncalibrated_accuracy_note


def test_predicted_accuracies_outside_0_100_are_said():
    assert uncalibrated_accuracy_note([72.5, 0.0, 100.0]) == ""
    note = uncalibrated_accuracy_note([174.1, 96.0, 12.3])
    assert "12.3-174.1 %" in note and "not calibrated" in note and "nasedge accuracy fit" in note
    assert "-3.0-40.0 %" in uncalibrated_accuracy_note([40.0, -3.0])


def test_the_report_repeats_the_warning_about_uncalibrated_accuracies():
    from tests.specialize.test_noisy_verification import _manifest

    m = _manifest(True, False)
    assert "**Warning.**" not in render_report(m)
    m["accuracy"]["predicted_top1"] = 174.1
    text = render_report(m)
    assert "**Warning.** predicted accuracies span 174.1-174.1 %, outside 0-100 %" in text
    assert "nasedge accuracy fit)." in text


def test_an_unbound_budget_picks_the_most_accurate_subnet_only_of_a_search_run_to_its_end():
    """search.max_evaluations=1 picks the first subnet scored: the report must not call it the most accurate."""
    from tests.specialize.test_noisy_verification import _manifest

    m = _manifest(True, False)
    m["latency_ms"].update(slowest_predicted=12.0, budget_binds=False)
    m["search"].update(evaluations=1, stop_reason="evaluation cap")
    text = render_report(m)
    assert ("the budget does not bind, so the pick is the most accurate of the 1 subnet scored (the search stopped "
            "at its evaluation cap), not necessarily the most accurate subnet.") in text
    assert "simply" not in text
    # with several budgets the pick is chosen among what every budget's search scored, not this one's evaluations
    m["search"].update(candidates_under_budget=7)
    assert "the most accurate of the 7 subnets scored (the search stopped at its evaluation cap)" in render_report(m)
    m["search"]["stop_reason"] = "strategy finished"
    assert "the budget does not bind, so the pick is simply the most accurate subnet." in render_report(m)


def test_measurements_of_an_earlier_run_are_said_to_be():
    from nasedge.specialize.report import _verification_words
    from nasedge.specialize.verification import Finalist
    from tests.specialize.test_noisy_verification import _manifest

    pick = Finalist(None, 90.0, 1.5, measured_ms=1.6, noisy=False, earlier_run=True)
    assert _verification_words("tb", pick, True, "").endswith(
        "over the measurement protocol (by an earlier run, taken from verification.csv)")
    m = _manifest(True, False)
    m["finalists"] = [{"arch_digest": "abc", "predicted_top1": 90.0, "predicted_ms": 1.5, "measured_ms": 1.6,
                       "noisy": False, "within_budget": True, "earlier_run": True}]
    assert "| `abc` **pick** | 90.00 | 1.5 | 1.6 (earlier run) | yes | - |" in render_report(m)


def _budget_manifest(budget: float, measured_top1) -> dict:
    """A single-budget manifest as the flow builds it, with what the combined manifest reads."""
    from tests.specialize.test_noisy_verification import _manifest

    m = _manifest(False, False)
    m["budget_ms"], m["accuracy"]["measured_top1"] = budget, measured_top1
    m["latency_ms"].update(measured=None, slowest_predicted=3.0)
    m.update(nasedge="0", created="now", command=None, accuracy_predictor="a.json", settings={})
    m["search"]["options"] = {}
    return m


def test_the_combined_report_says_a_pick_whose_accuracy_is_predicted_only_was_not_evaluated():
    """An imported ImageNet supernet without --data, several budgets: the report formatted the missing top-1 with
    :.2f (a TypeError at the very end, which discarded every pick)."""
    from nasedge.specialize.report import combined_manifest, render_combined_report

    top = combined_manifest([_budget_manifest(8.0, None), _budget_manifest(12.0, 71.5)],
                            search=[], timings={"total": 1.0})
    text = render_combined_report(top)
    assert "| 8 ms | `abc` | unverified | 1.58 | - | 90.00 % | not evaluated (predicted only) | `8ms/` |" in text
    assert "| 71.50 % | `12ms/` |" in text
    top["predicted_range_ms"][1] = None  # a manifest built without the slowest subnet's latency
    assert "subnets: from 0.4 ms" in render_combined_report(top)


@pytest.mark.parametrize("budgets, view", [("50ms,100ms", "render_combined_report"), ("50ms", "plot_pareto")])
def test_a_bug_rendering_a_report_keeps_the_picks(tmp_path, capsys, monkeypatch, budgets, view):
    """A report or plot that cannot be rendered (a bug) discarded the staged outputs: every pick and export lost. The
    picks and manifests are kept, the run says which file is missing, and the bug's traceback still shows."""
    from nasedge.cli import main
    from nasedge.specialize import report
    from tests.specialize.test_evaluation_data import FAST, _supernet

    def broken(*args, **kwargs):
        raise TypeError("unsupported format string passed to NoneType.__format__")

    monkeypatch.setattr(report, view, broken)
    supernet, out = _supernet(tmp_path / "imported", 1000), tmp_path / "out"
    with pytest.raises(TypeError, match="NoneType"):  # not a NasedgeError: main lets a bug's traceback through
        main(["specialize", "--device", "titan_rtx_64", "--latency", budgets, "--supernet", str(supernet),
              "--out", str(out), *FAST])
    missing = out / ("report.md" if "," in budgets else "pareto.png")
    err = capsys.readouterr().err
    assert not missing.exists() and f"but {missing} could not be written" in err
    if "," not in budgets:  # the stage's line listed the plot it had not written
        assert f"{out}/manifest.json, report.md" in err.replace("\n", "") and "pareto.png, report.md" not in err
    picks = json.loads((out / "manifest.json").read_text()).get("picks", [{"dir": "."}])
    assert len(picks) == budgets.count(",") + 1
    for pick in picks:
        assert (out / pick["dir"] / "subnet.pt").stat().st_size > 0
        assert (out / pick["dir"] / "manifest.json").is_file() and (out / pick["dir"] / "search.json").is_file()
