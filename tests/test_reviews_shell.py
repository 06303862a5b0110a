"""`iam-bot shell` tells the access-review story: `/iam review start Developers`, Keep and Remove
on the card, `wait 14d` to the deadline and its summary, and the report."""

from __future__ import annotations

import pytest

from tests.support.shell import after, run_shell, turns

pytestmark = pytest.mark.slow

STORY = """\
/iam create jane.doe Developers
as bob
click Approve y
/iam review start Developers
as jane
click Keep
as bob
click Keep
/iam review start Developers
click Remove y
wait 14d
/iam review report 1
"""


@pytest.fixture(scope="module")
def story():
    result = run_shell(STORY)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return turns(result.stdout)


def test_the_card_shows_the_member_its_owner_how_and_its_usage(story):
    [shown] = after(story, "bob> /iam review start Developers")[:1]
    # the shell's world has two AWS accounts: what a review says names its account (sandbox, the default)
    assert "Access review #1 in AWS account sandbox started: `Developers` (1)" in shown
    assert "Access review #1 · `Developers` in AWS account sandbox: 1 member" in shown and "0 of 1 reviewed. Reviewers: @bob" in shown
    assert "`jane.doe` · owner @jane" in shown and "How: bot request #1, approved by @bob" in shown
    assert "console last sign-in never · MFA off · no active keys" in shown and "Keep" in shown and "Remove" in shown


def test_only_a_reviewer_decides_and_keep_updates_the_card_in_place(story):
    [refused] = after(story, "jane> click Keep")
    assert "Only the reviewers of `Developers` decide" in refused
    [kept] = after(story, "bob> click Keep")
    assert "you kept it" in kept and "(edited)" in kept and "1 of 1 reviewed" in kept and "@bob kept it" in kept


def test_remove_takes_the_membership_away_and_tells_the_owner(story):
    [removed] = after(story, "bob> click Remove y")
    assert "you removed it" in removed and "@bob removed it" in removed
    assert "DM from iam-bot to jane" in removed and "removed from `Developers` by @bob in access review #2" in removed


def test_the_deadline_closes_both_reviews_and_the_report_says_who_decided(story):
    [later] = after(story, "bob> wait 14d")
    assert "Access review #1 in AWS account sandbox closed" in later
    assert "Access review #2 in AWS account sandbox closed" in later
    assert "`Developers` (1): 1 kept." in later and "`Developers` (1): 1 removed." in later
    [report] = after(story, "bob> /iam review report 1")
    assert "Access review #1" in report and "`jane.doe`: kept by @bob" in report
