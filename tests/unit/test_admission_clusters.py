"""Dask clusters in the admission core, under random create, scale, release and close, with saves and reloads.

Invariants after every step: a cluster's live workers never exceed what it
wants; a closed cluster holds nothing; the pool holds exactly the granted
slices; nobody holds past her limit; and a reload from the database (SQLite)
gives back the same clusters and requests, none lost or counted twice.
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from npuhub.admission.clusters import is_scheduler
from npuhub.admission.model import Refused, State
from npuhub.admission.store import AdmissionStore
from npuhub.site_config import parse_site_config
from support.doubles import FakeClock
from support.sites import flavor, make_site

SITE = parse_site_config(make_site(
    nodes=1, devices_per_node=2,
    groups={"course-a": {"kind": "course"}, "lab-x": {"kind": "lab"}},
    flavors=[flavor("cpu"), flavor("quarter", "1/4", default=True), flavor("half", "1/2")],
    limits={"max_share": "3/4", "groups": {"lab-x": {"max_share": 2}}},
))
USERS = {"a1": {"course-a"}, "a2": {"course-a"}, "x1": {"lab-x"}}


_TEMPLATE: list[str] = []


def _fresh_database() -> str:
    """A new SQLite file with the schema made (alembic runs once per session, not per example)."""
    import shutil
    import tempfile

    directory = tempfile.mkdtemp()
    if not _TEMPLATE:
        path = f"{directory}/template.sqlite"
        store = AdmissionStore(f"sqlite:///{path}")
        store.open(SITE, FakeClock(1_700_000_000.0))
        store.close()
        _TEMPLATE.append(path)
    shutil.copy(_TEMPLATE[0], f"{directory}/adm.sqlite")
    return f"sqlite:///{directory}/adm.sqlite"


class ClusterMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.clock = FakeClock(1_700_000_000.0)
        self.store = AdmissionStore(_fresh_database())
        self.store._migrated = True
        self.adm = self.store.open(SITE, self.clock)
        self.created: list[str] = []

    def teardown(self):
        self.store.close()

    def _commit(self):
        self.store.commit(self.adm)

    @rule(user=st.sampled_from(sorted(USERS)), flavor=st.sampled_from(["quarter", "half"]),
          workers=st.integers(0, 6))
    def create(self, user, flavor, workers):
        held_before = self.adm.held_by(user, include_waiting=True)
        try:
            cluster = self.adm.create_cluster(user, USERS[user], flavor, workers, name=None, server="",
                                              adaptive=None, lifetime=3600, idle_timeout=None)
        except Refused:
            # a refusal leaves nothing behind
            assert self.adm.held_by(user, include_waiting=True) == held_before
        else:
            self.created.append(cluster.id)
        self._commit()

    @precondition(lambda self: self.created)
    @rule(data=st.data(), workers=st.integers(0, 6))
    def scale(self, data, workers):
        cid = data.draw(st.sampled_from(self.created))
        if cid in self.adm.clusters:
            try:
                self.adm.scale_cluster(cid, workers)
            except Refused:
                pass
            for rid in list(self.adm.clusters[cid].excess):  # the service stops their processes, then releases
                self.adm.release(rid, "cluster_scaled_down")
            assert self.adm.clusters[cid].excess == []
        self._commit()

    @precondition(lambda self: self.created)
    @rule(data=st.data())
    def close(self, data):
        cid = data.draw(st.sampled_from(self.created))
        if cid in self.adm.clusters:
            self.adm.close_cluster(cid, "closed", "someone")
        self._commit()

    @rule(user=st.sampled_from(sorted(USERS)))
    def notebook(self, user):
        try:
            self.adm.submit(user, USERS[user], "quarter", server="")
        except Refused:
            pass
        self._commit()

    @rule()
    def release_a_notebook(self):
        notebooks = [r for r in self.adm.granted() if r.cluster is None and r.share]
        if notebooks:
            self.adm.release(notebooks[0].id)
        self._commit()

    @rule()
    def reload(self):
        before = {cid: (c.state, c.wanted, sorted(r.id for r in self.adm.cluster_requests(cid)))
                  for cid, c in self.adm.clusters.items()}
        held = {m: self.adm.pool.held(m) for m in self.adm.pool.models}
        self.adm = self.store.open(SITE, self.clock)  # what the database holds, into a fresh core
        self._commit()
        after = {cid: (c.state, c.wanted, sorted(r.id for r in self.adm.cluster_requests(cid)))
                 for cid, c in self.adm.clusters.items()}
        assert after == before
        # nothing granted twice, nothing lost (a reload may only grant more, what fits now)
        assert all(self.adm.pool.held(m) >= held[m] for m in held)

    @invariant()
    def workers_within_wanted(self):
        for cid, cluster in self.adm.clusters.items():
            workers = self.adm.cluster_workers(cid)
            assert len(workers) - len(cluster.excess) <= cluster.wanted
            schedulers = [r for r in self.adm.cluster_requests(cid) if is_scheduler(r)]
            assert len(schedulers) == 1 and schedulers[0].share == 0

    @invariant()
    def closed_holds_nothing(self):
        for cid in self.created:
            if cid not in self.adm.clusters:  # closed and saved
                assert not [r for r in self.adm.requests.values() if r.cluster == cid and r.active]

    @invariant()
    def pool_matches_grants(self):
        for model in self.adm.pool.models:
            granted = sum((r.share for r in self.adm.granted() if r.model == model), Fraction(0))
            assert self.adm.pool.held(model) == granted

    @invariant()
    def within_limits(self):
        for user, groups in USERS.items():
            assert self.adm.held_by(user) <= SITE.limits.max_share_for(groups)


ClusterMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=20, deadline=None)
TestClusters = ClusterMachine.TestCase
