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


def test_limits_and_missing_mutations_can_be_one_tokens_own(emu):
    tree = "/repos/acme/fleet/git/trees/main"
    assert emu.ctl("POST", "limits", {"tree_entries": 4, "token": "t-read"})["tree_entries"] == 4
    assert emu.ctl("GET", "limits")["tree_entries"] == 100_000, "the server's own are unchanged"
    listed = {t: emu.rest("GET", tree, token=t, params={"recursive": "1"}).json() for t in ("t-read", "t-write")}
    assert listed["t-read"]["truncated"] is True and len(listed["t-read"]["tree"]) == 4
    assert listed["t-write"]["truncated"] is False and len(listed["t-write"]["tree"]) == 8

    emu.ctl("POST", "schema", {"hide_mutations": ["createCommitOnBranch"], "token": "t-read"})
    mutation = "mutation { createCommitOnBranch(input: {}) { clientMutationId } }"
    hidden = emu.gql(mutation, token="t-read")["errors"][0]
    assert hidden["extensions"]["code"] == "undefinedField", hidden
    served = emu.gql(mutation, token="t-write")["errors"][0]
    assert served.get("extensions", {}).get("code") != "undefinedField", served
