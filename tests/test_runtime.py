"""The thread policy: CPUs from the affinity mask and the cgroup quota, applied everywhere."""

import os

import pytest

from latent_notes import runtime


@pytest.fixture
def cgroup(tmp_path):
    return tmp_path


def _affinity(monkeypatch, n):
    monkeypatch.setattr(runtime, "_affinity_count", lambda: n)


@pytest.mark.parametrize("cpu_max, affinity, expected", [
    ("max 100000", 8, 8),          # no quota: the affinity mask decides
    ("200000 100000", 16, 2),      # Binder-like: 2 CPUs on a 16-core host
    ("150000 100000", 16, 2),      # 1.5 CPUs: two threads can both progress
    ("50000 100000", 16, 1),       # half a CPU: still one thread
    ("400000 100000", 2, 2),       # quota above the mask: the mask decides
])
def test_cgroup_v2_quota(monkeypatch, cgroup, cpu_max, affinity, expected):
    (cgroup / "cpu.max").write_text(cpu_max + "\n")
    _affinity(monkeypatch, affinity)
    assert runtime.cpu_quota(cgroup) == expected


def test_cgroup_v1_quota(monkeypatch, cgroup):
    (cgroup / "cpu").mkdir()
    (cgroup / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (cgroup / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    _affinity(monkeypatch, 32)
    assert runtime.cpu_quota(cgroup) == 3
    (cgroup / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")  # unlimited
    assert runtime.cpu_quota(cgroup) == 32


def test_no_cgroup_files_and_garbage_fall_back_to_the_mask(monkeypatch, cgroup):
    _affinity(monkeypatch, 4)
    assert runtime.cpu_quota(cgroup / "missing") == 4
    (cgroup / "cpu.max").write_text("nonsense\n")
    assert runtime.cpu_quota(cgroup) == 4


def test_this_machine_has_at_least_one_cpu():
    assert 1 <= runtime.cpu_quota() <= (os.cpu_count() or 1)


def test_limit_threads_sizes_every_pool(monkeypatch):
    torch = pytest.importorskip("torch")
    from threadpoolctl import threadpool_info, threadpool_limits

    for name in runtime.THREAD_VARIABLES:
        monkeypatch.setenv(name, "")
    before = torch.get_num_threads()
    original = threadpool_limits(limits=None)  # records the pools' sizes, changes nothing
    try:
        assert runtime.limit_threads(1) == 1
        assert torch.get_num_threads() == 1
        assert all(os.environ[name] == "1" for name in runtime.THREAD_VARIABLES)
        pools = threadpool_info()
        assert pools and all(pool["num_threads"] == 1 for pool in pools)
    finally:
        torch.set_num_threads(before)
        original.restore_original_limits()


@pytest.mark.parametrize("quota, expected", [(1, 1), (2, 1), (4, 3), (16, 15)])
def test_default_leaves_one_cpu_free(monkeypatch, quota, expected):
    monkeypatch.setattr(runtime, "cpu_quota", lambda root=None: quota)
    assert runtime.default_threads() == expected


def test_default_respects_a_smaller_user_setting(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(runtime, "default_threads", lambda: 8)
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        assert runtime.limit_threads() == 1
        monkeypatch.setenv("OMP_NUM_THREADS", "64")   # larger than the quota: ignored
        assert runtime.limit_threads() == 8
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-2, ValueError), (1.5, TypeError),
                                        ("2", TypeError), (True, TypeError)])
def test_bad_thread_counts_raise(bad, error):
    with pytest.raises(error, match="n_threads"):
        runtime.limit_threads(bad)
