"""The published figures of the study (shared/study/README.md), typed in by hand."""

N_ENROLLED = 167
BASELINE = {
    "age_median": 47,
    "female_pct": 66,
    "baseplat_median": 9,
    "itpdur_median_months": 12,
    "phase_counts": {"Newly diagnosed": 53, "Persistent": 25, "Chronic": 89},
    "who_grade_pct": {0: 44, 1: 55},
    "dose_median": 5.0, "dose_min": 2.5, "dose_max": 10.0,
    "trtdur_median_months": 9, "trtdur_min_months": 1, "trtdur_max_months": 24,
}
# (criterion, group, week) -> (n, N, pct)
RESPONSE = {
    ("CRIT1", "All", 6): (121, 160, 76), ("CRIT1", "All", 12): (109, 139, 78),
    ("CRIT1", "All", 16): (96, 115, 83), ("CRIT1", "All", 24): (91, 104, 88),
    ("CRIT1", "Newly diagnosed", 6): (41, 51, 80), ("CRIT1", "Newly diagnosed", 12): (31, 41, 76),
    ("CRIT1", "Newly diagnosed", 16): (26, 30, 87), ("CRIT1", "Newly diagnosed", 24): (26, 27, 96),
    ("CRIT1", "Persistent", 6): (18, 24, 75), ("CRIT1", "Persistent", 12): (18, 22, 82),
    ("CRIT1", "Persistent", 16): (18, 19, 95), ("CRIT1", "Persistent", 24): (17, 18, 94),
    ("CRIT1", "Chronic", 6): (62, 85, 73), ("CRIT1", "Chronic", 12): (60, 76, 79),
    ("CRIT1", "Chronic", 16): (52, 66, 79), ("CRIT1", "Chronic", 24): (48, 59, 81),
    ("CRIT2", "All", 6): (49, 160, 31), ("CRIT2", "All", 24): (46, 104, 44),
}


def round_half_up(x: float) -> int:
    """Percent rounding of the publication: 0.5 goes up."""
    from decimal import ROUND_HALF_UP, Decimal

    return int(Decimal(repr(float(x))).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def assert_published_baseline(t) -> None:
    """``t`` (one row per subject: AGE, SEX, BASEPLAT, ITPDURM, ITPPHASE, WHOGRBL, DOSESTRT,
    TRTDURM) gives every cell of the published baseline table, rounded as published."""
    assert round_half_up(t["AGE"].median()) == BASELINE["age_median"]
    assert round_half_up(100 * (t["SEX"] == "F").mean()) == BASELINE["female_pct"]
    assert round_half_up(t["BASEPLAT"].median()) == BASELINE["baseplat_median"]
    assert round_half_up(t["ITPDURM"].median()) == BASELINE["itpdur_median_months"]
    assert t["ITPPHASE"].value_counts().to_dict() == BASELINE["phase_counts"]
    for grade, pct in BASELINE["who_grade_pct"].items():
        assert round_half_up(100 * (t["WHOGRBL"] == grade).sum() / len(t)) == pct
    assert t["DOSESTRT"].median() == BASELINE["dose_median"]
    assert (t["DOSESTRT"].min(), t["DOSESTRT"].max()) == (BASELINE["dose_min"], BASELINE["dose_max"])
    months = t["TRTDURM"]
    assert round_half_up(months.median()) == BASELINE["trtdur_median_months"]
    assert round_half_up(months.min()) == BASELINE["trtdur_min_months"]
    assert round_half_up(months.max()) == BASELINE["trtdur_max_months"]
