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
