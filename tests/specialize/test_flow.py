from nasedge.specialize.flow import uncalibrated_accuracy_note


def test_predicted_accuracies_outside_0_100_are_said():
    assert uncalibrated_accuracy_note([72.5, 0.0, 100.0]) == ""
    note = uncalibrated_accuracy_note([174.1, 96.0, 12.3])
    assert "12.3-174.1 %" in note and "not calibrated" in note and "nasedge accuracy fit" in note
    assert "-3.0-40.0 %" in uncalibrated_accuracy_note([40.0, -3.0])
