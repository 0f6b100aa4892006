"""Tests sharing one emulator: faults scoped to a token, the log and violations filtered by it."""

from emu_harness import head_oid


def test_a_fault_with_a_token_fires_only_for_that_token(emu):
    emu.ctl("POST", "faults", {"kind": "bad_gateway", "method": "GET", "path_regex": r"/git/ref/heads/main$",
                               "count": 1, "token": "t-read"})
    # another token's request passes, and does not use the fault up
    assert emu.rest("GET", "/repos/acme/fleet/git/ref/heads/main", token="t-write").status_code == 200
    assert emu.rest("GET", "/repos/acme/fleet/git/ref/heads/main", token="t-read").status_code == 502
    assert emu.rest("GET", "/repos/acme/fleet/git/ref/heads/main", token="t-read").status_code == 200


def test_the_log_and_violations_are_filtered_by_token(emu):
    head_oid(emu)  # t-write
    emu.rest("GET", "/repos/acme/fleet/git/ref/heads/main", token="t-read")
    emu.rest("GET", "/repos/acme/fleet/no-such-endpoint", token="t-read")  # a violation: unsupported
    emu.rest("GET", "/repos/acme/fleet/git/ref/heads/main", token="t-unknown")  # 401, still its own
    mine = emu.ctl("GET", "requests?token=t-read")
    assert [e["path"] for e in mine] == ["/repos/acme/fleet/git/ref/heads/main", "/repos/acme/fleet/no-such-endpoint"]
    assert all("t-read" not in str(e) for e in mine), "the log keeps a hash of the token, not the token"
    assert [e["api"] for e in emu.ctl("GET", "requests?token=t-write")] == ["graphql"]
    assert [e["status"] for e in emu.ctl("GET", "requests?token=t-unknown")] == [401]
    assert len(emu.requests_log()) == 4, "unfiltered: everything"
    assert [v["path"] for v in emu.ctl("GET", "violations?token=t-read")] == ["/repos/acme/fleet/no-such-endpoint"]
    assert emu.ctl("GET", "violations?token=t-write") == []
    assert len(emu.violations()) == 1
