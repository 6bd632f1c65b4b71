"""Two real ucarp hosts in network namespaces, driven through `carp-pkg sync` inside each namespace."""

import os
import signal
import time

import pytest

from carp_pkg.backends.ucarp import instance_dir
from carp_pkg.lab.scenarios import failover, settle
from carp_pkg.paths import Paths
from carp_pkg.system import RealRunner
from tests.helpers import wait_until

pytestmark = pytest.mark.integration


def netns_pids(lab, host):
    out = RealRunner().run(("ip", "netns", "pids", lab.layout.namespace(host)), mutating=False).stdout
    return out.split()


def test_exactly_one_master_after_settling_and_it_is_the_lower_advskew(make_lab):
    lab = make_lab()
    assert settle(lab) == "a"
    a, b = lab.running("a").vhids[0], lab.running("b").vhids[0]
    assert (a.state, b.state) == ("MASTER", "BACKUP")
    assert [str(x) for x in a.held] == [lab.layout.vip] and b.held == ()
    # a second sync of an unchanged config changes nothing and keeps the same process
    assert "no changes needed" in lab.sync("a").stdout
    assert lab.running("a").vhids[0].pid == a.pid


def test_killing_the_master_fails_over_within_ucarps_bound_and_preempt_takes_it_back(make_lab, record_figure):
    lab = make_lab(preempt=True)
    takeover, restored = failover(lab, "kill")
    record_figure("kill master -> backup answers (client)", takeover.client_s, takeover.bound_s)
    record_figure("kill master -> backup up script (host)", takeover.host_s, takeover.bound_s)
    assert takeover.new_master == "b"
    assert takeover.client_s <= 1.1 * takeover.bound_s
    record_figure("restart old master, preempt on -> it answers again", restored.client_s)
    assert restored.new_master == "a"  # the lower advskew host takes the VIP back
    assert settle(lab) == "a"  # b steps down once it has read a's advert (ucarp reads adverts up to 1 s late)


def test_without_preempt_the_restored_host_stays_backup(make_lab, record_figure):
    lab = make_lab(preempt=False)
    takeover, restored = failover(lab, "kill")
    record_figure("kill master (no preempt) -> backup answers", takeover.client_s, takeover.bound_s)
    assert takeover.new_master == "b" and takeover.client_s <= 1.1 * takeover.bound_s
    assert restored.new_master == "b", restored.note
    assert settle(lab) == "b" and lab.states() == {"a": "BACKUP", "b": "MASTER"}


def test_link_down_kills_ucarp_the_backup_takes_over_and_sync_brings_it_back(make_lab, record_figure):
    lab = make_lab()
    takeover, restored = failover(lab, "link")
    record_figure("master link down -> backup answers", takeover.client_s, takeover.bound_s)
    assert takeover.new_master == "b" and takeover.client_s <= 1.1 * takeover.bound_s
    assert restored.new_master == "a"


def test_maintenance_hands_the_vip_over_without_flapping_back(make_lab, record_figure):
    lab = make_lab(preempt=True)  # with preempt, SIGUSR2 alone would flap back after 3 s
    handover, watch, back = failover(lab, "maintenance")
    record_figure("maintenance on -> backup answers", handover.client_s, handover.bound_s)
    assert handover.new_master == "b" and handover.client_s <= 1.1 * handover.bound_s
    assert watch.new_master == "b", watch.note  # nobody else answered during the watch, a stayed BACKUP
    assert "advskew 254" in watch.note
    record_figure("maintenance off -> a answers again", back.client_s)
    assert back.new_master == "a" and lab.running("a").vhids[0].advskew == 0


def test_password_mismatch_both_masters_and_compare_and_check_report_it(make_lab):
    lab = make_lab(passwords={"b": "not-the-same"})
    # neither accepts the other's adverts, so each declares the master down: two MASTERs
    wait_until(lambda: lab.states() == {"a": "MASTER", "b": "MASTER"}, 10, "both hosts MASTER")
    wait_until(lambda: lab.running("a").vhids[0].peer_mismatch, 5, "ucarp on a logs the peer's bad digest")

    compare = lab.carp("a", "compare", lab.layout.config_path("a"), lab.layout.config_path("b"), check=False)
    assert compare.returncode == 1 and "password" in compare.stdout
    assert "not-the-same" not in compare.stdout + compare.stderr and "lan-secret" not in compare.stdout

    check = lab.carp("a", "check", "--backend", "ucarp", check=False)
    assert check.returncode in (1, 2), check.stdout
    assert "password" in check.stdout and "not-the-same" not in check.stdout


def test_sync_with_an_empty_config_stops_every_ucarp_and_removes_every_address(make_lab):
    lab = make_lab()
    settle(lab)
    for host in ("a", "b"):
        without_carp_entries(lab.layout.config_path(host))
        lab.sync(host)
        assert netns_pids(lab, host) == []  # the stop step waits for ucarp to exit
        assert lab.running(host).vhids == ()
        assert not any(name.startswith("eth0-vhid") for name in os.listdir(instance_dir(Paths(lab.layout.root(host)).state_dir)))
    vip = lab.layout.vip.split("/")[0]
    for host in ("a", "b"):
        shown = RealRunner().run(("ip", "-n", lab.layout.namespace(host), "-o", "addr", "show"), mutating=False).stdout
        assert vip not in shown


def test_deinstall_stops_ucarp_and_leaves_no_address(make_lab):
    lab = make_lab()
    settle(lab)
    result = lab.carp("a", "deinstall", "--backend", "ucarp", check=False)
    assert result.returncode == 0, result.stderr
    # the down script's `carp-pkg event` runs in the background; deinstall waits for it, so nothing is left
    # running and nothing writes the event log again once the state dir is gone
    assert netns_pids(lab, "a") == []
    time.sleep(0.5)
    assert not os.path.exists(os.path.join(lab.layout.root("a"), "var", "db", "carp-pkg"))
    shown = RealRunner().run(("ip", "-n", lab.layout.namespace("a"), "-o", "addr", "show"), mutating=False).stdout
    assert lab.layout.vip.split("/")[0] not in shown


def without_carp_entries(path):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    start, end = text.index("<config>"), text.rindex("</config>") + len("</config>")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text[:start] + text[end:])


def test_a_vip_left_by_a_crashed_ucarp_is_removed_when_the_vhid_goes(make_lab):
    lab = make_lab()
    assert settle(lab) == "a"
    os.kill(lab.ucarp_pid("a"), signal.SIGKILL)  # a crash: no down script runs, the VIP stays
    wait_until(lambda: lab.running("a").vhids[0].state == "STOPPED", 5, "a's ucarp gone")
    assert [str(x) for x in lab.running("a").vhids[0].held] == [lab.layout.vip]
    without_carp_entries(lab.layout.config_path("a"))
    lab.sync("a")
    shown = RealRunner().run(("ip", "-n", lab.layout.namespace("a"), "-o", "addr", "show"), mutating=False).stdout
    assert lab.layout.vip.split("/")[0] not in shown
    assert lab.running("a").vhids == ()
