"""Multi-host Sentinel: acknowledged updates survive the primary losing its link.

A password-protected primary (n1), two replicas (n2, n3) and three sentinels
(s1–s3, monitoring n1 as "opsmain", quorum 2, down after 1 s) each run on
their own host, a Linux network namespace on one bridge. Two worker hosts (w1,
w2) run ``opscore --wait-replicas 1 worker`` with a ``redis-sentinel://`` URL
naming the three sentinels and update the same four sessions, ~17 s of paced
requests each; a control host registers the agent and starts the sessions with
``opscore`` through the sentinels and reads Redis with redis-py. 3 s in, n1's
link goes down for 10 s: the sentinels promote a replica and the workers must
go on through it; once n1's link is back the sentinels must turn it into a
replica of the new primary, and nothing written after the cut may exist on n1
except what it replicates. The scenario runs once for the module; each test
checks one guarantee on its record and prints the run's figures for it.

Needs root and ``ip netns``; skipped otherwise. Every address (10.214.0.0/24)
exists only inside namespaces the test creates, and the root namespace's
network is never touched. Tunables: MULTIHOST_SENTINEL_REQUESTS (per worker,
340), MULTIHOST_SENTINEL_PACE (0.05 s), MULTIHOST_SENTINEL_CONCURRENCY (4),
MULTIHOST_SENTINEL_CUT_AT (3 s), MULTIHOST_SENTINEL_CUT_FOR (10 s),
MULTIHOST_SENTINEL_SETTLED_AFTER (8 s: requests sent later than this after the
cut must all succeed), MULTIHOST_SENTINEL_MAX_RUNTIME (58 s per test).
"""

import os
import shutil

import pytest

from support import multihost_checks as checks
from support import multihost_sentinel as scenario
from support import netns

UNAVAILABLE = netns.unavailable_reason()  # not root, or no `ip netns`
pytestmark = [
    pytest.mark.skipif(UNAVAILABLE is not None, reason=str(UNAVAILABLE)),
    # The timeout raises inside the test, so the fixtures' cleanup still runs.
    pytest.mark.timeout(float(os.environ.get("MULTIHOST_SENTINEL_MAX_RUNTIME", "58"))),
]


@pytest.fixture(scope="module")
def settings():
    """The run's settings, once the tools are there."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server not found on PATH")
    chosen = scenario.Settings.from_env()
    if chosen.cut_at + chosen.settled_after >= chosen.feed_seconds:
        pytest.fail("MULTIHOST_SENTINEL_*: the requests end before the cut has settled; send more of them")
    return chosen


@pytest.fixture(scope="module")
def lab(settings):
    """The namespaces; on teardown (also after a failure, timeout or SIGTERM) all of it goes."""
    with netns.NetworkLab(prefix=f"ms{os.getpid()}", subnet=scenario.SUBNET) as network, \
            netns.sigterm_raises_interrupt():
        yield network


@pytest.fixture(scope="module")
def outcome(lab, opscore_bin, settings, tmp_path_factory):
    """The scenario's record, from its only run."""
    return scenario.run_scenario(lab, str(opscore_bin), settings, str(tmp_path_factory.mktemp("multihost_sentinel")))


@pytest.fixture(scope="module")
def analysis(outcome):
    return checks.Analysis(outcome)


def judge(figures, name, verdict, outcome):
    """Records a check's figures as "multihost sentinel NAME", then fails the test with its problems, steps and logs."""
    checks.judge(figures, f"multihost sentinel {name}", verdict, outcome)


def test_the_sentinels_promote_a_replica_when_the_primary_loses_its_link(analysis, outcome, figures):
    judge(figures, "failover", scenario.check_failover(analysis), outcome)


def test_every_request_gets_exactly_one_reply_across_the_failover(analysis, outcome, figures):
    judge(figures, "replies", scenario.check_replies(analysis), outcome)


def test_failures_only_say_unavailable_timeout_not_replicated_or_conflict(analysis, outcome, figures):
    judge(figures, "failure codes", scenario.check_failure_codes(analysis), outcome)


def test_every_acknowledged_update_is_on_the_new_primary(analysis, outcome, figures):
    judge(figures, "acknowledged", scenario.check_acknowledged(analysis), outcome)


def test_versions_are_gap_free_on_the_new_primary(analysis, outcome, figures):
    judge(figures, "versions", scenario.check_versions(analysis), outcome)


def test_workers_go_on_through_the_promoted_replica(analysis, outcome, figures):
    judge(figures, "settled", scenario.check_settled(analysis), outcome)


def test_old_primary_comes_back_as_a_replica_without_writes_of_its_own(analysis, outcome, figures):
    judge(figures, "old primary", scenario.check_old_primary(analysis), outcome)


def test_updates_lost_with_the_old_primary_were_never_acknowledged(analysis, outcome, figures):
    judge(figures, "lost with n1", scenario.check_lost_with_old_primary(analysis), outcome)


def test_workers_exit_0_at_end_of_input(analysis, outcome, figures):
    judge(figures, "worker exit", scenario.check_workers_exit(analysis), outcome)


def test_cleanup_leaves_no_namespace_link_or_process_behind(lab, outcome, figures):
    """Runs last: closes the lab early (the fixture's own close is then a no-op)."""
    judge(figures, "cleanup", checks.lab_cleanup(lab), outcome)
