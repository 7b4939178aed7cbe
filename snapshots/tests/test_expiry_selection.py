import datetime as dt

from snapshots.expiry_selection import choose_expiration

WED = dt.date(2026, 11, 18)


def days(*offsets: int) -> list[dt.date]:
    return [WED + dt.timedelta(days=o) for o in offsets]


def test_exact_target_wins() -> None:
    c = choose_expiration(WED, days(1, 2, 5, 6, 7), target_dte=5, tolerance_days=1)
    assert (c.expiration, c.actual_dte_days, c.within_tolerance) == (WED + dt.timedelta(days=5), 5, True)


def test_tie_goes_to_the_later_expiration() -> None:
    # Target +3 lands on Saturday; Friday (+2) and Sunday-free Monday... here +2 and +4 are equally close.
    c = choose_expiration(WED, days(2, 4), target_dte=3, tolerance_days=1)
    assert c.actual_dte_days == 4


def test_outside_tolerance_scheduled_gives_reason_not_expiration() -> None:
    c = choose_expiration(WED, days(1, 10), target_dte=5, tolerance_days=1)
    assert c.expiration is None
    assert "±1d" in c.reason


def test_outside_tolerance_forced_falls_back_to_closest() -> None:
    c = choose_expiration(WED, days(1, 10), target_dte=7, tolerance_days=1, force=True)
    assert c.expiration == WED + dt.timedelta(days=10)
    assert c.actual_dte_days == 10 and not c.within_tolerance
    assert "forced" in c.reason


def test_past_expirations_ignored_and_empty_list_explained() -> None:
    c = choose_expiration(WED, days(-3, -1), target_dte=0, tolerance_days=1)
    assert c.expiration is None and "no listed expirations" in c.reason
    c = choose_expiration(WED, days(-1, 0), target_dte=0, tolerance_days=0)
    assert c.actual_dte_days == 0
